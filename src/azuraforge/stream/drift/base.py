"""What every drift detector shares: the :class:`DriftDetector` contract, its flags and
counters, the cool-down and the state dict."""

from __future__ import annotations

import copy
import inspect
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import check_integer


class DriftDetector(ABC):
    """A detector of change in a stream of numbers, updated one value at a time.

    The contract (River's ``river/base/drift_detector.py``, with warnings, a cool-down and a
    state dict added):

    - :meth:`update` takes the next value and returns None; :attr:`drift_detected` and
      :attr:`warning_detected` then say what that value showed, until the next update resets
      them. A value that is not a finite number raises :class:`InvalidParameterError` and
      changes nothing.
    - :attr:`warning_detected` is True whenever the looser warning test passes, so a drift
      always comes with a warning: the first warning of a change comes at or before its drift.
    - After a drift the statistics start over at the next update, as River's detectors do; the
      counters :attr:`n_detections` and :attr:`n_warnings` keep counting.
    - For ``cooldown`` updates after a drift no drift is signalled. The detector keeps
      learning and does not start over, so a change that is still there is signalled at the
      first test after the cool-down; meanwhile it shows as a warning.
    - :meth:`state_dict` holds JSON-compatible values only (it survives ``json.dumps`` and
      ``json.loads``); :meth:`load_state_dict` restores it exactly, so the restored detector
      gives the same outputs as the original from then on. The parameters are not part of it:
      load it into a detector built with the same ones.
    - Every constructor argument is stored unchanged under its own name; a bad one raises
      :class:`InvalidParameterError` naming its value.

    A detector defines ``_reset`` (start its statistics over), ``_step(x)`` (learn ``x``;
    whether the drift and warning tests pass) and adds the names of its statistics to
    ``_STATE``; ``update`` does the rest.
    """

    _STATE: ClassVar[tuple[str, ...]] = (
        "drift_detected",
        "warning_detected",
        "n_detections",
        "n_warnings",
        "quiet",
    )
    """The state dict's keys: each is the attribute of the same name with a leading ``_``."""

    def __init__(self, cooldown: int) -> None:
        check_integer(self, "cooldown", cooldown, least=0)
        self.cooldown = cooldown
        self._drift_detected = False
        self._warning_detected = False
        self._n_detections = 0
        self._n_warnings = 0
        self._quiet = 0  # updates of cool-down left
        self._reset()

    @property
    def drift_detected(self) -> bool:
        """Whether the last update signalled a drift."""
        return self._drift_detected

    @property
    def warning_detected(self) -> bool:
        """Whether the last update signalled a warning (it does with every drift)."""
        return self._warning_detected

    @property
    def n_detections(self) -> int:
        """How many updates signalled a drift so far."""
        return self._n_detections

    @property
    def n_warnings(self) -> int:
        """How many updates signalled a warning so far (drifts included)."""
        return self._n_warnings

    def update(self, value: float) -> None:
        """Take the next value; then read :attr:`drift_detected` and :attr:`warning_detected`.

        Parameters
        ----------
        value
            The next value of the stream (for :class:`DDM`: 1 for an error, 0 otherwise).

        Raises
        ------
        InvalidParameterError
            If ``value`` is not a finite number (or, for :class:`DDM`, not 0 or 1).
        """
        x = self._as_number(value)
        if self._drift_detected:
            self._reset()
        drift, warning = self._step(x)
        if self._quiet:
            self._quiet -= 1
            drift = False
        self._drift_detected = drift
        self._warning_detected = warning
        if warning:  # every drift comes with a warning
            self._n_warnings += 1
            if drift:
                self._n_detections += 1
                self._quiet = self.cooldown

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`update` depends on besides the parameters, as JSON-compatible
        values (a copy: later updates do not change it)."""
        return {name: copy.deepcopy(getattr(self, f"_{name}")) for name in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``, a :meth:`state_dict` of this kind of detector.

        Raises
        ------
        InvalidParameterError
            If ``state`` lacks a key of this detector's state or has one it does not know.
        """
        missing = [name for name in self._STATE if name not in state]
        unknown = [name for name in state if name not in self._STATE]
        if missing or unknown:
            kind = type(self).__name__
            wrong = [
                f"{what} {', '.join(map(repr, names))}"
                for what, names in (("lacks", missing), ("has unknown", unknown))
                if names
            ]
            raise InvalidParameterError(
                f"{kind}: the state {' and '.join(wrong)}; load what {kind}.state_dict() gave"
            )
        for name in self._STATE:
            setattr(self, f"_{name}", copy.deepcopy(state[name]))

    def __repr__(self) -> str:
        params = inspect.signature(type(self)).parameters
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in params)
        return f"{type(self).__name__}({shown})"

    def _as_number(self, value: float) -> float:
        """``value`` as a float, or an error when it is not a finite number."""
        try:
            if math.isfinite(value):
                return float(value)
        except TypeError:
            pass
        raise InvalidParameterError(
            f"{type(self).__name__}: update takes a finite number, got {value!r}"
        )

    @abstractmethod
    def _reset(self) -> None:
        """Start the statistics over (not the flags, counters or cool-down)."""

    @abstractmethod
    def _step(self, x: float) -> tuple[bool, bool]:
        """Learn ``x``; whether the drift test and the warning test pass now (the drift test
        never passes without the warning test)."""
