"""What every stream piece shares: the :class:`Event` a source yields, the :class:`Source`
contract, the :class:`SourceReport` of what a source found wrong in its input and did about
it, and the contracts of learners (:class:`Learner`, :class:`Classifier`, :class:`Regressor`,
:class:`Transformer`), River's nearly literally."""

from __future__ import annotations

import datetime
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.learn.metrics.base import params_of

EXAMPLES_KEPT = 3
"""How many example messages a report keeps for each reason."""


@dataclass(frozen=True)
class Event:
    """One observation of a stream: its event time and its named values.

    Attributes
    ----------
    time
        When it happened, in seconds since the Unix epoch (UTC).
    values
        The numbers of the observation by name (``{"close": 20963.0, ...}``), as learners'
        ``x`` dicts take them.
    line
        Where it came from: the line of its file (0 when the source has no lines).
    missing_before
        How many steps of the stream's regular step are missing right before it (a gap in
        the input: 0 almost always). Features and learners can tell a jump from a step.
    """

    time: float
    values: dict[str, float]
    line: int = 0
    missing_before: int = 0

    @property
    def when(self) -> datetime.datetime:
        """:attr:`time` as an aware UTC date-time."""
        return datetime.datetime.fromtimestamp(self.time, tz=datetime.UTC)


MOST_SKIPPED = 0.01
"""The share of a file's rows a replay may leave out (as unreadable or invalid) unasked; a
column nobody named that more rows than this lack is left out instead of the rows."""


@dataclass
class SourceReport:
    """What a source found in its input: rows read, rows skipped and why, order, gaps and
    the fixes it made. Nothing is passed silently: every skipped row is counted by reason,
    with the first few messages kept as examples.

    Attributes
    ----------
    rows
        Data rows read (not counting a header, banner or blank lines).
    events
        Events the source yields.
    skipped
        Rows skipped, by reason (``"unparseable"``, ``"non-positive price"``,
        ``"duplicate"``, ``"out of order"``, ``"wrong width"``).
    examples
        The first :data:`EXAMPLES_KEPT` messages of each reason, naming line and value.
    banner_lines
        Lines above the header that were not part of the table (a title, a web address).
    newest_first
        True when the input ran newest first and was replayed the other way.
    step
        The stream's regular step in seconds (the commonest step between events, the shortest
        of those as common), or None with fewer than two events.
    gaps, missing
        Places where steps are missing, and how many steps they miss in all.
    largest_gap
        The longest time between two events, in seconds (0 with fewer than two).
    fixes
        Values corrected, by what was corrected (``"swapped volumes"``).
    time_formats
        Rows by how their time was written (``"Unix seconds"``, ``"Unix milliseconds"``,
        ``"ISO"``): a file that mixes them is read whole, and says so.
    first, last
        The first and last event's time (Unix seconds), or None before any event.
    left_out
        Columns a replay carried only because their first value was a number, left out of
        every event because more than :data:`MOST_SKIPPED` of the rows hold no number there:
        rows without one, by column (their first messages are in ``examples`` under
        ``"column NAME"``).
    """

    rows: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    banner_lines: list[int] = field(default_factory=list)
    newest_first: bool = False
    step: float | None = None
    gaps: int = 0
    missing: int = 0
    largest_gap: float = 0.0
    fixes: dict[str, int] = field(default_factory=dict)
    time_formats: dict[str, int] = field(default_factory=dict)
    first: float | None = None
    last: float | None = None
    left_out: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, message: str) -> None:
        """Count one row skipped for ``reason``; keep ``message`` among the first examples."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(message)

    def leave_out(self, column: str, message: str) -> None:
        """Count one row without a number in ``column``, which the events then leave out."""
        self.left_out[column] = self.left_out.get(column, 0) + 1
        kept = self.examples.setdefault(f"column {column}", [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(message)

    def skipped_instead(self, column: str) -> None:
        """Count the rows without a number in ``column`` as unparseable rows, skipped, and
        keep the column: a few bad values are bad rows, not a column some rows lack."""
        count, examples = self.left_out.pop(column), self.examples.pop(f"column {column}")
        self.skipped["unparseable"] = self.skipped.get("unparseable", 0) + count
        kept = self.examples.setdefault("unparseable", [])
        kept.extend(examples[: EXAMPLES_KEPT - len(kept)])

    def unusable(self) -> dict[str, int]:
        """Rows skipped because they could not be used, by reason: every skip but a repeat
        of the time before (``"duplicate"``), which loses nothing."""
        return {reason: n for reason, n in self.skipped.items() if reason != "duplicate"}

    def refuse_unusable(self, where: str, most: float, fix: str) -> None:
        """Refuse input of which more than ``most`` (a share) of the rows could not be used
        (:meth:`unusable`); ``where`` names it, ``fix`` says what to do.

        Raises
        ------
        DataFormatError
            Naming the count per reason and the first line of each.

        >>> report = SourceReport(rows=100)
        >>> for line in range(2, 5):
        ...     report.skip("unparseable", f"line {line}: close is 'n/a', expected a number")
        >>> report.refuse_unusable("prices.csv", 0.01, "Mend the file.")
        Traceback (most recent call last):
        ...
        azuraforge.errors.DataFormatError: prices.csv: 3 of 100 rows could not be used (3.0%, over 1.0%): unparseable 3 (first: line 2: close is 'n/a', expected a number). Mend the file.
        >>> SourceReport(skipped={"wrong width": 2}).refuse_unusable("a feed", 0.01, "Mend it.")
        Traceback (most recent call last):
        ...
        azuraforge.errors.DataFormatError: a feed: 2 of 2 rows could not be used (100.0%, over 1.0%): wrong width 2. Mend it.
        """  # noqa: E501
        bad = self.unusable()
        count = sum(bad.values())
        rows = max(self.rows, count)  # a source that counts its skips, not its rows
        if count <= most * rows:
            return
        reasons = "; ".join(f"{reason} {n:,}{self._first(reason)}" for reason, n in bad.items())
        raise DataFormatError(
            f"{where}: {count:,} of {rows:,} rows could not be used "
            f"({count / rows:.1%}, over {most:.1%}): {reasons}. {fix}"
        )

    def _first(self, reason: str) -> str:
        """The first example of ``reason``, as an error shows it after the count."""
        kept = self.examples.get(reason)
        return f" (first: {kept[0]})" if kept else ""

    def fix(self, what: str) -> None:
        """Count one value corrected as ``what``."""
        self.fixes[what] = self.fixes.get(what, 0) + 1

    def lines(self) -> list[str]:
        """The report as short readable lines (what a CLI prints before replaying)."""
        shown = [f"{self.events:,} events from {self.rows:,} rows"]
        if self.first is not None and self.last is not None:
            shown[0] += f", {_utc(self.first)} to {_utc(self.last)} UTC"
        if len(self.time_formats) > 1:
            mixed = ", ".join(f"{n:,} in {kind}" for kind, n in sorted(self.time_formats.items()))
            shown.append(f"times written in more than one way, each read: {mixed}")
        if self.banner_lines:
            shown.append(f"skipped banner line(s) {', '.join(map(str, self.banner_lines))}")
        if self.newest_first:
            shown.append("the file runs newest first: replayed oldest first")
        shown += self._dropped_and_fixed()
        if self.gaps:
            shown.append(
                f"{self.gaps:,} gap(s) missing {self.missing:,} step(s) of {self.step:g} s; the "
                f"longest {self.largest_gap:g} s"
            )
        return shown

    def _dropped_and_fixed(self) -> list[str]:
        """Lines of the rows skipped, the columns left out and the values fixed, by reason."""
        shown = []
        for reason, count in self.skipped.items():
            shown.append(f"skipped {count:,} row(s), {reason}: {'; '.join(self.examples[reason])}")
        for column, count in self.left_out.items():
            examples = "; ".join(self.examples[f"column {column}"])
            shown.append(
                f"column {column} left out of every event: {count:,} row(s) hold no number "
                f"there ({examples}); name the columns to carry to keep it and skip those rows"
            )
        for what, count in self.fixes.items():
            shown.append(f"fixed {count:,} row(s): {what}")
        return shown


class Source(ABC):
    """A stream of :class:`Event`, oldest first, with a :class:`SourceReport`.

    Iterating yields the events; a source may be iterated again (a replay starts over).
    ``report`` says what was found in the input so far (for a replay: the whole file, as it
    is read before the first event).
    """

    @abstractmethod
    def __iter__(self) -> Iterator[Event]: ...

    @property
    @abstractmethod
    def report(self) -> SourceReport: ...


Features = dict[str, float]
"""One event's inputs by name, as learners take them (``{"rsi_14": 48.2, ...}``)."""
Columns = Mapping[str, Any]
"""Many events' inputs as columns by name: a dict of 1-D arrays (what
:meth:`~azuraforge.stream.features.FeatureSet.batch` returns) or a pandas ``DataFrame``."""


def rows(X: Columns) -> list[Features]:
    """Columns as one ``x`` dict per event."""
    names = list(X)
    columns = [np.asarray(X[name], dtype=float).tolist() for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def matrix_of(X: Columns, names: list[str]) -> np.ndarray:
    """Columns as a matrix, one row per event and one column per name in ``names`` (0 for
    a name ``X`` lacks; names only ``X`` has are left out)."""
    size = len(X[next(iter(X))]) if len(X) else 0
    matrix = np.zeros((size, len(names)))
    for at, name in enumerate(names):
        if name in X:
            matrix[:, at] = np.asarray(X[name], dtype=float)
    return matrix


def targets_of(who: str, matrix: np.ndarray, y: Any) -> np.ndarray:
    """A batch's outcomes as floats (labels as 1 and 0), one per row of ``matrix``.

    Raises
    ------
    InvalidParameterError
        If there are not as many outcomes as rows.
    """
    targets = np.asarray(y, dtype=float).reshape(-1)
    if len(targets) != len(matrix):
        raise InvalidParameterError(
            f"{who}.learn_many: {len(matrix)} rows of X but {len(targets)} values of y"
        )
    return targets


class Learner(ABC):
    """Something that learns from a stream one event at a time.

    Contract (River's): ``learn_one`` updates, predictions never do; predicting before the
    first ``learn_one`` works (a neutral answer). ``learn_many`` takes a batch as columns and
    makes one update from all of it. Every constructor argument is stored on ``self`` under
    its own name; :meth:`clone` builds an untrained copy from them. :meth:`state_dict` holds
    everything learned as plain numbers, lists, dicts and NumPy arrays (no pickle), and
    :meth:`load_state_dict` on a learner built with the same arguments restores it exactly:
    both go on to give identical predictions.
    """

    @abstractmethod
    def learn_one(self, x: Features, y: Any = None) -> None:
        """Update from one event (``y`` is its outcome; transformers ignore it)."""

    def learn_many(self, X: Columns, y: Any = None) -> None:
        """Update from a batch of events given as columns (one step from the whole batch)."""
        raise NotImplementedError(f"{type(self).__name__} learns one event at a time only")

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """What was learned, as plain values and NumPy arrays (see the class docstring)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, exactly."""

    def params(self) -> dict[str, Any]:
        """The constructor arguments, by name."""
        return params_of(self)

    def clone(self) -> Self:
        """An untrained learner with the same constructor arguments."""
        return type(self)(**self.params())

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({shown})"


class Classifier(Learner):
    """A learner of a label; here, mostly ``True``/``False`` (the price went up or not)."""

    @abstractmethod
    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        """The probability of each label (``{False: 0.45, True: 0.55}``)."""

    def predict_one(self, x: Features) -> Any:
        """The most probable label (``None`` before anything was learned)."""
        probabilities = self.predict_proba_one(x)
        return max(probabilities, key=probabilities.__getitem__) if probabilities else None

    def predict_proba_many(self, X: Columns) -> np.ndarray:
        """The probability of ``True`` for each event of a batch (one at a time here;
        learners that can do better override it)."""
        return np.array([self.predict_proba_one(x).get(True, 0.0) for x in rows(X)])

    def predict_many(self, X: Columns) -> np.ndarray:
        """The most probable label of each event of a batch."""
        return np.array([self.predict_one(x) for x in rows(X)])


class Regressor(Learner):
    """A learner of a number."""

    @abstractmethod
    def predict_one(self, x: Features) -> float:
        """The predicted number (0 before anything was learned)."""

    def predict_many(self, X: Columns) -> np.ndarray:
        """The predicted number for each event of a batch."""
        return np.array([self.predict_one(x) for x in rows(X)], dtype=float)


class Transformer(Learner):
    """A learner that turns features into other features (a running standardiser)."""

    @abstractmethod
    def transform_one(self, x: Features) -> Features:
        """``x`` transformed with what was learned so far."""

    def transform_many(self, X: Columns) -> dict[str, np.ndarray]:
        """Columns transformed with what was learned so far."""
        raise NotImplementedError(f"{type(self).__name__} transforms one event at a time only")


def predicts_labels(learner: Learner) -> bool:
    """Whether ``learner`` (or a pipeline's last step) learns labels."""
    return isinstance(getattr(learner, "final", learner), Classifier)


def check_integer(owner: object, name: str, value: int, least: int) -> None:
    """An error unless ``value`` is an integer (not a bool) of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidParameterError(
            f"{type(owner).__name__}: {name} must be an integer >= {least}, got {value!r}"
        )


def check_number(
    owner: object, name: str, value: float, fits: Callable[[float], bool], expected: str
) -> None:
    """An error unless ``value`` is a finite real number that ``fits``; ``expected`` says
    which (``"in (0, 1)"``)."""
    real = isinstance(value, int | float) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and fits(value)):
        raise InvalidParameterError(
            f"{type(owner).__name__}: {name} must be {expected}, got {value!r}"
        )


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M")
