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

PUBLIC = ("drift_detected", "warning_detected", "n_detections", "n_warnings")
"""The state dict's keys that are public attributes under the same name."""


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

    The flags and counters are plain attributes that :meth:`update` sets (read them, do not
    set them). A detector defines ``update`` itself, written out in full because a method
    call per value is a large share of its cost: take the value (``_as_number`` when it is
    not a plain float), ``_clear`` the last update's flags when it warned, learn the value
    and, when the warning test passes, ``_signal`` it. It also defines ``_reset`` (start its
    statistics over) and ``_count`` (the updates since they started over), and adds the
    names of its statistics to ``_STATE``.
    """

    _STATE: ClassVar[tuple[str, ...]] = (*PUBLIC, "quiet")
    """The state dict's keys: those of :data:`PUBLIC` are the attributes of the same name,
    ``quiet`` the updates of cool-down left, and each other key the attribute of the same
    name with a leading ``_``."""

    _DERIVED: ClassVar[tuple[str, ...]] = ("quiet",)
    """Keys whose values are derived from other attributes (``_state_value``) and, on
    loading, derive them back (``_resume``)."""

    _LEGACY: ClassVar[tuple[str, ...]] = ()
    """Keys that older state dicts hold and loading ignores (statistics no longer kept)."""

    drift_detected: bool
    """Whether the last update signalled a drift."""
    warning_detected: bool
    """Whether the last update signalled a warning (it does with every drift)."""
    n_detections: int
    """How many updates signalled a drift so far."""
    n_warnings: int
    """How many updates signalled a warning so far (drifts included)."""

    def __init__(self, cooldown: int) -> None:
        check_integer(self, "cooldown", cooldown, least=0)
        self.cooldown = cooldown
        self.drift_detected = False
        self.warning_detected = False
        self.n_detections = 0
        self.n_warnings = 0
        # Drifts are held back while _count() is at most this: the cool-down counted from
        # the restart that follows a drift (0: none held back).
        self._quiet_until = 0
        self._reset()

    @abstractmethod
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

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`update` depends on besides the parameters, as JSON-compatible
        values (a copy: later updates do not change it)."""
        return {name: copy.deepcopy(self._state_value(name)) for name in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``, a :meth:`state_dict` of this kind of detector.

        Raises
        ------
        InvalidParameterError
            If ``state`` lacks a key of this detector's state or has one it does not know.
        """
        self._check_state_keys(state)
        for name in self._STATE:
            if name not in self._DERIVED:
                setattr(self, name if name in PUBLIC else f"_{name}", copy.deepcopy(state[name]))
        self._resume(state)

    def _check_state_keys(self, state: dict[str, Any]) -> None:
        """Refuse ``state`` when it lacks a key of this detector's state or has an unknown one."""
        missing = [name for name in self._STATE if name not in state]
        unknown = [name for name in state if name not in self._STATE + self._LEGACY]
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

    def __repr__(self) -> str:
        params = inspect.signature(type(self)).parameters
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in params)
        return f"{type(self).__name__}({shown})"

    def _state_value(self, name: str) -> Any:
        if name in PUBLIC:
            return getattr(self, name)
        if name == "quiet":
            held = self._quiet_until
            return held if self.drift_detected else max(0, held - self._count())
        return getattr(self, f"_{name}")

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

    def _resume(self, state: dict[str, Any]) -> None:
        """Derive the attributes behind the ``_DERIVED`` keys of ``state``, the rest loaded:
        the end of the cool-down, from the ``quiet`` updates of it left."""
        quiet = state["quiet"]  # after a drift it counts from the restart the next update does
        self._quiet_until = quiet if self.drift_detected or not quiet else self._count() + quiet

    def _clear(self) -> None:
        """Lower the last update's flags, and start over after a drift."""
        if self.drift_detected:
            self._reset()
            self.drift_detected = False
        self.warning_detected = False

    def _signal(self, drift: bool) -> None:
        """The warning test passed, and the drift test if ``drift``: raise the flags, count
        them, hold the drift back in a cool-down and start one after it."""
        self.warning_detected = True
        self.n_warnings += 1
        if drift and self._count() > self._quiet_until:
            self.drift_detected = True
            self.n_detections += 1
            self._quiet_until = self.cooldown

    @abstractmethod
    def _reset(self) -> None:
        """Start the statistics over (not the flags, counters or cool-down)."""

    @abstractmethod
    def _count(self) -> int:
        """The values learned since the statistics last started over."""
