"""How often a series is observed: the step between rows, its seasons and calendar cycles.

A :class:`Frequency` says what one row step is (an hour, a day, seven days, a month...), which
seasonal-naive baselines fit it (same hour yesterday for hourly data, same day last week and
last year for daily data...) and which calendar cycles a model may read. :func:`infer_frequency`
recognises it from the timestamps; :func:`irregular_steps` finds where rows do not follow one
another (missing timestamps, repeats, disorder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from azuraforge.errors import InvalidParameterError, NotFoundError


@dataclass(frozen=True)
class Frequency:
    """One sampling frequency.

    Attributes
    ----------
    name
        ``hourly``, ``daily``, ``weekly``, ``monthly``, ``quarterly`` or ``yearly``.
    unit, step
        One row step is ``step`` NumPy datetime ``unit`` s (``"D"``, 7 for weekly).
    seasons
        ``(baseline name, period in rows)`` of the seasonal-naive baselines that fit.
    cycles
        Calendar cycles to encode as features (see :func:`calendar_columns`).
    """

    name: str
    unit: str
    step: int
    seasons: tuple[tuple[str, int], ...]
    cycles: tuple[str, ...]

    def offset(self, times: np.ndarray) -> np.timedelta64:
        """How far the first time lies past the start of its unit: daily rows stamped at
        12:00 are daily with a 12-hour offset. Zero for monthly and coarser frequencies.

        Examples
        --------
        >>> noon = np.array(["2024-01-01T12:00", "2024-01-02T12:00"], dtype="datetime64[m]")
        >>> get_frequency("daily").offset(noon)
        np.timedelta64(720,'m')
        """
        stamps = np.asarray(times)
        if self.unit == "M" or not len(stamps):
            return np.timedelta64(0, "s")
        offset: np.timedelta64 = stamps[0] - stamps[0].astype(f"datetime64[{self.unit}]")
        return offset

    def positions(self, times: np.ndarray) -> np.ndarray:
        """Each time, less the :meth:`offset`, as a whole number of ``unit`` s since 1970."""
        stamps = np.asarray(times)
        positions: np.ndarray = (
            (stamps - self.offset(stamps)).astype(f"datetime64[{self.unit}]").astype(np.int64)
        )
        return positions

    def after(self, times: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The times ``steps`` (1, 2...) rows after the last of ``times``, by the calendar:
        a monthly row dated the 31st is followed by the last day of a shorter month.

        Examples
        --------
        >>> months = np.array(["2024-12-31", "2025-01-31"], dtype="datetime64[D]")
        >>> get_frequency("monthly").after(months, np.array([1, 2]))
        array(['2025-02-28', '2025-03-31'], dtype='datetime64[D]')
        >>> hours = np.array(["2024-01-01T22"], dtype="datetime64[h]")
        >>> get_frequency("hourly").after(hours, np.array([1, 2]))
        array(['2024-01-01T23', '2024-01-02T00'], dtype='datetime64[h]')
        """
        last = np.asarray(times)[-1]
        count = np.asarray(steps, dtype=np.int64) * self.step
        if self.unit != "M":
            after: np.ndarray = last + count.astype(f"timedelta64[{self.unit}]")
            return after
        month = last.astype("datetime64[M]")
        into = last - month.astype(last.dtype)  # days (and time) into its month
        starts = month + count.astype("timedelta64[M]")
        lengths = (starts + 1).astype(last.dtype) - starts.astype(last.dtype)
        unit = np.timedelta64(1, "D").astype(into.dtype)
        shifted: np.ndarray = starts.astype(last.dtype) + np.minimum(into, lengths - unit)
        return shifted

    def on_grid(self, times: np.ndarray) -> bool:
        """Whether every time is a whole number of units after the first (monthly data may
        use any day)."""
        return not self.off_grid(times).any()

    def off_grid(self, times: np.ndarray) -> np.ndarray:
        """Which times are not a whole number of units after the first (none for monthly)."""
        stamps = np.asarray(times)
        if self.unit == "M":
            return np.zeros(len(stamps), dtype=bool)
        shifted = stamps - self.offset(stamps)
        off: np.ndarray = shifted.astype(f"datetime64[{self.unit}]") != shifted
        return off


FREQUENCIES: dict[str, Frequency] = {
    f.name: f
    for f in (
        Frequency(
            "hourly", "h", 1, (("same hour yesterday", 24),), ("hour", "weekday", "yearday")
        ),
        Frequency(
            "daily", "D", 1, (("same day last week", 7), ("same day last year", 365)),
            ("weekday", "yearday"),
        ),
        Frequency("weekly", "D", 7, (("same week last year", 52),), ("yearday",)),
        Frequency("monthly", "M", 1, (("same month last year", 12),), ("month",)),
        Frequency("quarterly", "M", 3, (("same quarter last year", 4),), ("month",)),
        Frequency("yearly", "M", 12, (), ()),
    )
}  # fmt: skip


def get_frequency(name: str) -> Frequency:
    """The frequency called ``name``.

    Raises
    ------
    NotFoundError
        If there is no such frequency; the message lists the known ones.

    Examples
    --------
    >>> get_frequency("daily").seasons
    (('same day last week', 7), ('same day last year', 365))
    """
    if name not in FREQUENCIES:
        raise NotFoundError(
            f"no frequency {name!r}; known: {', '.join(FREQUENCIES)} (or 'auto' to infer it)"
        )
    return FREQUENCIES[name]


def infer_frequency(times: np.ndarray) -> Frequency:
    """The frequency whose one step separates most consecutive times.

    Missing timestamps do not prevent recognising it (:func:`irregular_steps` finds them).

    Raises
    ------
    InvalidParameterError
        If fewer than two times are given, or no frequency's step is the usual one; the
        message names the most common steps found.

    Examples
    --------
    >>> days = np.array(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05"], "datetime64[D]")
    >>> infer_frequency(days).name
    'daily'
    >>> months = np.array(["2024-01-31", "2024-02-29", "2024-03-31"], dtype="datetime64[D]")
    >>> infer_frequency(months).name
    'monthly'
    """
    stamps = np.asarray(times)
    if len(stamps) < 2:
        raise InvalidParameterError(f"cannot infer a frequency from {len(stamps)} timestamp(s)")
    for frequency in FREQUENCIES.values():
        if not frequency.on_grid(stamps):
            continue
        steps, counts = np.unique(np.diff(frequency.positions(stamps)), return_counts=True)
        if steps[np.argmax(counts)] == frequency.step:
            return frequency
    raise InvalidParameterError(
        f"cannot infer the frequency: the most common steps between rows are "
        f"{_common_steps(stamps)}, none of {', '.join(FREQUENCIES)}; set the frequency, or "
        "resample the series to a regular step first"
    )


def irregular_steps(times: np.ndarray, frequency: Frequency) -> np.ndarray:
    """Rows ``i`` where ``times[i + 1]`` is not exactly one step after ``times[i]``.

    Examples
    --------
    >>> hours = np.array(["2024-01-01T00", "2024-01-01T01", "2024-01-01T04"], "datetime64[h]")
    >>> irregular_steps(hours, get_frequency("hourly"))
    array([1])
    """
    stamps = np.asarray(times)
    steps = np.diff(frequency.positions(stamps))
    off = frequency.off_grid(stamps)
    return np.flatnonzero((steps != frequency.step) | off[1:] | off[:-1])


def calendar_columns(times: np.ndarray, cycles: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each cycle as a sine/cosine pair (float32), so 23:00 sits next to 00:00.

    ``hour`` (of the day), ``weekday``, ``yearday`` (day of the year over 365.25) and
    ``month`` (of the year) are known.

    Examples
    --------
    >>> stamps = np.array(["2024-01-01T06"], dtype="datetime64[h]")
    >>> {k: v.round(2) for k, v in calendar_columns(stamps, ("hour",)).items()}
    {'hour_sin': array([1.], dtype=float32), 'hour_cos': array([0.], dtype=float32)}
    """
    hours = np.asarray(times).astype("datetime64[h]")
    days = hours.astype("datetime64[D]")
    fractions: dict[str, Callable[[], np.ndarray]] = {
        "hour": lambda: hours.astype(np.int64) % 24 / 24,
        "weekday": lambda: (days.astype(np.int64) + 3) % 7 / 7,  # 1970-01-01 was a Thursday
        "yearday": lambda: (days - days.astype("datetime64[Y]")).astype(np.int64) / 365.25,
        "month": lambda: hours.astype("datetime64[M]").astype(np.int64) % 12 / 12,
    }
    unknown = [c for c in cycles if c not in fractions]
    if unknown:
        raise InvalidParameterError(
            f"unknown calendar cycle {unknown[0]!r}; known: {list(fractions)}"
        )
    columns: dict[str, np.ndarray] = {}
    for cycle in cycles:
        angle = 2 * np.pi * fractions[cycle]()
        columns[f"{cycle}_sin"] = np.sin(angle).astype(np.float32)
        columns[f"{cycle}_cos"] = np.cos(angle).astype(np.float32)
    return columns


def _common_steps(stamps: np.ndarray) -> str:
    steps, counts = np.unique(np.diff(stamps), return_counts=True)
    top = steps[np.argsort(-counts)[:3]]
    return ", ".join(str(step) for step in top)
