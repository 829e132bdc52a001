"""ADWIN, DDM and Page-Hinkley: false alarms, delays, warnings, cool-down, state dicts,
arguments, and the same drift indices as River's detectors on the same streams."""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import river.drift

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.drift import ADWIN, DDM, DriftDetector, PageHinkley

SHIFT_AT = 5_000
CLASSIC_PH = {"delta": 0.5, "threshold": 25.0, "alpha": 1.0}
"""Page-Hinkley tuned for a shift of 1 in N(0, 1) (delta half the shift, no fading). River's
defaults (delta 0.005, alpha 0.9999) signal about 65 times in 100,000 values of N(0, 1)."""
MAKERS: dict[str, Callable[..., DriftDetector]] = {
    "ADWIN": ADWIN,
    "DDM": DDM,
    "PageHinkley": lambda **kw: PageHinkley(**CLASSIC_PH, **kw),
}


def flags(detector: Any, stream: Sequence[float]) -> list[tuple[bool, bool]]:
    """``(drift_detected, warning_detected)`` after each value (River's PageHinkley and
    ADWIN have no warning: False)."""
    out = []
    for value in stream:
        detector.update(value)
        out.append((detector.drift_detected, getattr(detector, "warning_detected", False)))
    return out


def drifts(detector: Any, stream: Sequence[float]) -> list[int]:
    return [i for i, (drift, _) in enumerate(flags(detector, stream)) if drift]


def stationary(name: str, seed: int, size: int = 100_000) -> list[float]:
    """N(0, 1) values, or Bernoulli(0.3) errors for DDM."""
    rng = np.random.default_rng(seed)
    if name == "DDM":
        return (rng.random(size) < 0.3).astype(float).tolist()
    return rng.normal(0, 1, size).tolist()


def shifted(name: str, seed: int, size: int = 10_000) -> list[float]:
    """A mean 0 -> 1 at SHIFT_AT in N(., 1), or an error rate 0.2 -> 0.5 for DDM."""
    rng = np.random.default_rng(seed)
    if name == "DDM":
        rates = np.where(np.arange(size) < SHIFT_AT, 0.2, 0.5)
        return (rng.random(size) < rates).astype(float).tolist()
    return (rng.normal(0, 1, size) + (np.arange(size) >= SHIFT_AT)).tolist()


def stepped(name: str, seed: int) -> list[float]:
    """Four levels of 300 values: the mean rises by 3 (sd 1), or the error rate 0.05, 0.35,
    0.65, 0.95 for DDM: a drift at each step when nothing holds it back."""
    rng = np.random.default_rng(seed)
    levels = np.repeat(np.arange(4), 300)
    if name == "DDM":
        return (rng.random(levels.size) < 0.05 + 0.3 * levels).astype(float).tolist()
    return (rng.normal(0, 1, levels.size) + 3 * levels).tolist()


@pytest.mark.parametrize(("name", "most"), [("ADWIN", 1), ("DDM", 3), ("PageHinkley", 1)])
def test_false_alarms_on_a_stationary_stream_stay_within_the_bound(name: str, most: int):
    """Drifts in 100,000 stationary values, seeds 0-2. Measured over seeds 0-19: ADWIN 0
    every time, DDM 0-2 (5 in all, on Bernoulli(0.3) errors), Page-Hinkley (CLASSIC_PH) 0.
    Bound: ``most`` per 100,000 on each seed."""
    for seed in range(3):
        assert len(drifts(MAKERS[name](), stationary(name, seed))) <= most


@pytest.mark.parametrize(("name", "most"), [("ADWIN", 100), ("DDM", 800), ("PageHinkley", 80)])
def test_a_shift_is_detected_within_the_bound(name: str, most: int):
    """Median over seeds 0-9 of the updates from the shift at SHIFT_AT to the first drift
    at or after it. Measured over seeds 0-19: ADWIN 55 (23-87; it tests every 32 updates),
    DDM 407 (68-1747, 0.2 -> 0.5: its error rate is the mean since the last drift),
    Page-Hinkley 50.5 (32-93; theory: threshold / (shift - delta) = 50)."""
    delays = []
    for seed in range(10):
        found = [i for i in drifts(MAKERS[name](), shifted(name, seed)) if i >= SHIFT_AT]
        delays.append(found[0] - SHIFT_AT)
    assert np.median(delays) <= most


@pytest.mark.parametrize("name", MAKERS)
def test_every_drift_comes_with_a_warning_and_the_first_warning_comes_first(name: str):
    for seed in range(5):
        shown = flags(MAKERS[name](), shifted(name, seed))
        after = [i for i, (_, warning) in enumerate(shown) if warning and i >= SHIFT_AT]
        found = [i for i, (drift, _) in enumerate(shown) if drift and i >= SHIFT_AT]
        assert found and after[0] <= found[0]
        assert all(warning for drift, warning in shown if drift)


@pytest.mark.parametrize("name", MAKERS)
def test_the_cooldown_holds_a_drift_back_until_it_ends(name: str):
    """Without a cool-down the steps give drifts d0 < d1 < ...; with one longer than
    d1 - d0, the run is the same up to d1, where the drift shows as a warning only, and the
    change still there is signalled at the first test after the cool-down."""
    stream = stepped(name, seed=0)
    free = drifts(MAKERS[name](), stream)
    cooldown = free[1] - free[0] + 50
    held = flags(MAKERS[name](cooldown=cooldown), stream)
    found = [i for i, (drift, _) in enumerate(held) if drift]
    clock = 32 if name == "ADWIN" else 1
    assert found[0] == free[0]
    assert held[free[1]] == (False, True)
    assert free[0] + cooldown < found[1] <= free[0] + cooldown + clock
    assert all(later - earlier > cooldown for earlier, later in itertools.pairwise(found))


@pytest.mark.parametrize(("name", "silent"), [("ADWIN", 31), ("DDM", 30), ("PageHinkley", 29)])
def test_a_cooldown_shorter_than_the_restart_changes_nothing(name: str, silent: int):
    """After a drift the detector first tests again at the 32nd value (ADWIN's clock), the
    31st (DDM's warm_start + 1) or the 30th (min_instances), as the docstrings say."""
    stream = stepped(name, seed=3)
    assert flags(MAKERS[name](cooldown=silent), stream) == flags(MAKERS[name](), stream)


@pytest.mark.parametrize("name", MAKERS)
def test_a_restored_state_continues_exactly_through_json(name: str):
    """Snapshots at a drift (its reset pending), inside a cool-down and between drifts: the
    restored detector's flags and final state are the original's."""
    stream = stepped(name, seed=1) * 2
    reference = MAKERS[name](cooldown=40)
    expected = flags(reference, stream)
    first = next(i for i, (drift, _) in enumerate(expected) if drift)
    for cut in (first, first + 10, first + 77, 1_000):
        original = MAKERS[name](cooldown=40)
        flags(original, stream[: cut + 1])
        restored = MAKERS[name](cooldown=40)
        restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
        assert flags(restored, stream[cut + 1 :]) == expected[cut + 1 :]
        assert restored.state_dict() == reference.state_dict()
        assert (restored.n_detections, restored.n_warnings) == (
            reference.n_detections,
            reference.n_warnings,
        )


OLD_STATES = Path(__file__).parent / "data" / "drift_states_before_67.json"
"""State dicts that the detectors wrote before issue 67 (their update inlined, ADWIN's
bucket variances dropped), each at a cut of ``stepped(seed) * 2`` in a cool-down or not:
written by the code at ``written_by`` on the detector of ``params``."""


def test_a_state_written_before_issue_67_still_loads_and_continues_exactly():
    cases = json.loads(OLD_STATES.read_text())["cases"]
    assert {case["detector"] for case in cases} == set(MAKERS) and len(cases) == 20
    for case in cases:
        kind = ADWIN if case["detector"] == "ADWIN" else MAKERS[case["detector"]]
        stream = stepped(case["detector"], case["seed"]) * 2
        reference = kind(**case["params"])
        expected = flags(reference, stream)
        restored = kind(**case["params"])
        restored.load_state_dict(case["state"])
        assert flags(restored, stream[case["cut"] + 1 :]) == expected[case["cut"] + 1 :], case
        assert restored.state_dict() == reference.state_dict()


def test_adwin_loading_a_state_forgets_what_its_own_window_vouched_for():
    """A used ADWIN that loads another run's state tests that window's cuts afresh: its
    flags are those of a new ADWIN loading the same state."""
    stream = stepped("ADWIN", seed=1) * 2
    source = ADWIN()
    flags(source, stream[:700])
    used, fresh = ADWIN(), ADWIN()
    flags(used, np.random.default_rng(7).normal(6, 1, 3_000).tolist())  # its level at 700
    for detector in (used, fresh):
        detector.load_state_dict(source.state_dict())
    assert flags(used, stream[700:]) == flags(fresh, stream[700:])


def test_a_state_dict_is_a_copy_and_a_foreign_state_is_refused():
    detector = ADWIN(clock=1)
    flags(detector, [0.0, 1.0, 0.5] * 10)
    state = detector.state_dict()
    detector.update(3.0)
    assert state != detector.state_dict()
    with pytest.raises(
        InvalidParameterError,
        match=r"ADWIN: the state lacks 'tick', .* and has unknown 'n', 'p', 'p_min', 's_min'; "
        r"load what ADWIN.state_dict\(\) gave",
    ):
        ADWIN().load_state_dict(DDM().state_dict())
    with pytest.raises(InvalidParameterError, match=r"DDM: the state lacks 's_min'; load"):
        DDM().load_state_dict({k: v for k, v in DDM().state_dict().items() if k != "s_min"})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PageHinkley(mode="sideways"), "PageHinkley: mode must be 'up', 'down' or "
         "'both', got 'sideways'"),
        (lambda: PageHinkley(threshold=0), "PageHinkley: threshold must be above 0, got 0"),
        (lambda: PageHinkley(threshold=10, warning_threshold=20), "PageHinkley: "
         r"warning_threshold must be in \(0, threshold\] = \(0, 10\] or None, got 20"),
        (lambda: PageHinkley(alpha=1.5), r"PageHinkley: alpha must be in \(0, 1\], got 1.5"),
        (lambda: PageHinkley(delta=-1), "PageHinkley: delta must be 0 or more, got -1"),
        (lambda: PageHinkley(min_instances=0), "min_instances must be an integer >= 1, got 0"),
        (lambda: ADWIN(delta=0), r"ADWIN: delta must be in \(0, 1\), got 0"),
        (lambda: ADWIN(warning_delta=0.001), r"ADWIN: warning_delta must be at least delta "
         r"\(0.002\) and below 1, or None, got 0.001"),
        (lambda: ADWIN(clock=2.5), "ADWIN: clock must be an integer >= 1, got 2.5"),
        (lambda: ADWIN(grace_period=-1), "ADWIN: grace_period must be an integer >= 0"),
        (lambda: ADWIN(cooldown=True), "ADWIN: cooldown must be an integer >= 0, got True"),
        (lambda: DDM(drift_threshold=1.5), r"DDM: drift_threshold must be at least "
         r"warning_threshold \(2.0\), got 1.5"),
        (lambda: DDM(warning_threshold=float("nan")), "DDM: warning_threshold must be above "
         "0, got nan"),
        (lambda: DDM(warm_start=-3), "DDM: warm_start must be an integer >= 0, got -3"),
    ],
)  # fmt: skip
def test_a_bad_argument_is_refused_naming_its_value(make, message: str):
    with pytest.raises(InvalidParameterError, match=message):
        make()


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1", None])
def test_a_value_that_is_not_a_finite_number_is_refused_and_changes_nothing(name, value):
    detector = MAKERS[name]()
    flags(detector, stepped(name, seed=2))
    before = detector.state_dict()
    expected = "update takes 1 .an error. or 0" if name == "DDM" else "update takes a finite"
    with pytest.raises(InvalidParameterError, match=f"{name}: {expected}.*got {value!r}"):
        detector.update(value)
    assert detector.state_dict() == before


def test_ddm_drifts_at_the_first_error_after_an_errorless_warm_up_as_rivers_does():
    """s_min is 0 then (Gama et al.'s test, River's arithmetic): documented, not fixed."""
    assert drifts(DDM(), [0] * 31 + [1]) == [31]
    assert drifts(DDM(), [0] * 30 + [1]) == []


def test_ddm_takes_errors_only():
    with pytest.raises(InvalidParameterError, match=r"DDM: .* got 0.5"):
        DDM().update(0.5)
    assert flags(DDM(warm_start=0), [True, False, 1, np.float64(0.0)]) == [(False, False)] * 4


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        (ADWIN, (0.01, 0.1, 8, 3, 4, 2, 7)),
        (DDM, (10, 1.5, 2.5, 3)),
        (PageHinkley, (5, 0.1, 20.0, 0.99, "down", 5.0, 1)),
    ],
)
def test_every_argument_is_kept_unchanged_under_its_name(kind, args: tuple):
    detector = kind(*args)
    names = list(inspect.signature(kind).parameters)
    assert [getattr(detector, name) for name in names] == list(args)
    shown = ", ".join(f"{name}={value!r}" for name, value in zip(names, args, strict=True))
    assert repr(detector) == f"{kind.__name__}({shown})"


def test_the_defaults_derive_the_warning_levels():
    assert PageHinkley().warning_threshold is None and ADWIN().warning_delta is None
    assert repr(ADWIN()) == (
        "ADWIN(delta=0.002, warning_delta=None, clock=32, max_buckets=5, min_window_length=5, "
        "grace_period=10, cooldown=0)"
    )


def test_adwin_reports_its_window():
    adwin = ADWIN()
    assert (adwin.width, adwin.estimation) == (0, 0.0)
    flags(adwin, [1.0, 2.0, 4.0, 5.0])
    assert (adwin.width, adwin.estimation) == (4, 3.0)


def test_the_package_exports_what_it_lists():
    namespace: dict = {}
    exec("from azuraforge.stream.drift import *", namespace)
    assert set(namespace) - {"__builtins__"} == {"ADWIN", "DDM", "DriftDetector", "PageHinkley"}


# River, same streams: Page-Hinkley and DDM run River's arithmetic, so the drift indices must
# be equal; ADWIN too (the same buckets and cut tests), which is stronger than "the same shift
# within a similar delay". DDM's warnings are River's plus one at each drift (River clears the
# warning when it signals the drift).


@pytest.fixture(scope="module")
def river_drift():
    """River's detectors: River is in the test extra, so a missing one fails, not skips."""
    return river.drift


def mixed(seed: int) -> list[float]:
    """15,000 values: N(0, 1), N(1, 1), N(-1, 2)."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(0, 1, 5_000), rng.normal(1, 1, 5_000), rng.normal(-1, 2, 5_000)]
    return np.concatenate(parts).tolist()


@pytest.mark.parametrize(
    "params",
    [{}, CLASSIC_PH, {"mode": "up", "threshold": 20.0}, {"mode": "down", "min_instances": 5}],
)
def test_page_hinkley_drifts_where_rivers_does(river_drift, params: dict):
    for seed in range(3):
        ours = drifts(PageHinkley(**params), mixed(seed))
        assert ours == drifts(river_drift.PageHinkley(**params), mixed(seed))
        assert ours  # River's defaults: 16 to 26 drifts on these streams


@pytest.mark.parametrize("params", [{}, {"warm_start": 100, "warning_threshold": 1.5}])
def test_ddm_drifts_where_rivers_does(river_drift, params: dict):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        rates = np.repeat([0.2, 0.5, 0.1, 0.4], 5_000)
        errors = (rng.random(rates.size) < rates).astype(int).tolist()
        ours, theirs = (
            flags(DDM(**params), errors),
            flags(river_drift.binary.DDM(**params), errors),
        )
        assert [drift for drift, _ in ours] == [drift for drift, _ in theirs]
        assert [warning for _, warning in ours] == [w or d for d, w in theirs]
        assert sum(drift for drift, _ in ours) >= 2


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"clock": 1},
        {"clock": 7, "max_buckets": 2, "min_window_length": 2, "grace_period": 0},
        {"delta": 0.1, "clock": 3},
    ],
)
def test_adwin_drifts_where_rivers_does_with_the_same_window(river_drift, params: dict):
    stream = mixed(0) + (np.random.default_rng(9).random(5_000) < 0.3).tolist()
    ours, theirs = ADWIN(**params), river_drift.ADWIN(**params)
    found = []
    for i, value in enumerate(stream):
        ours.update(value)
        theirs.update(value)
        assert ours.drift_detected == theirs.drift_detected
        found += [i] * ours.drift_detected
        if i % 1_000 == 999:
            assert (ours.width, ours.estimation) == (theirs.width, theirs.estimation)
    assert found[0] - SHIFT_AT < 100


class EveryCutADWIN(ADWIN):
    """ADWIN testing every cut at every test: no cut vouched for by the last full test."""

    def _settled_until(self, spread: float, level: float) -> float:
        self._settled = 0.0
        return 0.0


@pytest.mark.parametrize("params", [{}, {"clock": 4, "max_buckets": 2}])
def test_adwin_skipping_the_settled_cuts_changes_no_flag(river_drift, params: dict):
    """The cuts the last full test vouches for are skipped (most tests here), and the flags
    stay those of testing every cut, and River's, on shifts, a slow trend, an offset of 1e3
    and 0/1 values."""
    rng = np.random.default_rng(4)
    streams = [
        mixed(1),
        (np.linspace(0, 2, 20_000) + rng.normal(0, 1, 20_000)).tolist(),
        [1e3 + x for x in mixed(2)],
        (rng.random(20_000) < np.repeat([0.2, 0.3], 10_000)).astype(float).tolist(),
    ]
    for stream in streams:
        ours, every, vouched = ADWIN(**params), EveryCutADWIN(**params), []
        settled_until = ours._settled_until

        def counted(
            spread: float, level: float, settled_until=settled_until, vouched=vouched
        ) -> float:
            settled = settled_until(spread, level)
            vouched.append(settled > 0)
            return settled

        ours._settled_until = counted  # type: ignore[method-assign]
        shown = flags(ours, stream)
        assert shown == flags(every, stream)
        theirs = flags(river_drift.ADWIN(**params), stream)
        assert [drift for drift, _ in shown] == [drift for drift, _ in theirs]
        assert sum(vouched) > 0.5 * len(vouched)
