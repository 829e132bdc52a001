"""A run's scores (the numbers of its result, one row each): written where a result is
recorded (a worker's end, an interruption, an external run's end), read with listings,
sorted by, filtered on (several at once, scores and metrics together), their names listed;
on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.result_scores import MAX_SCORES, score_values
from azuraforge.platform.store.scores import ScoreFilter

pytestmark = pytest.mark.on_both_databases


def forecast(mae: float, persistence: float) -> dict[str, Any]:
    """A result as a forecaster's run records it: test scores beside a baseline's."""
    return {
        "metrics": {
            "MAE": {"model": mae, "persistence": persistence},
            "RelativeMAE vs persistence": {"model": mae / persistence, "persistence": 1.0},
        },
        "notes": ["test rows: 10"],
        "artifact_dir": "artifact",
        "training": {"epochs_run": 3, "stopped_early": False},
    }


def ended(
    store: Store, name: str, result: dict[str, Any] | None, metrics: dict[str, float] | None = None
) -> int:
    """A run claimed, with ``metrics`` logged, ended completed with ``result``."""
    record = store.create_experiment("sleeper", {}, name=name)
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    points = [(key, 1, value, time.time()) for key, value in (metrics or {}).items()]
    store.log_metrics(lease, points)
    store.finish(lease, "completed", result=result)
    return record.id


@pytest.fixture
def runs(store: Store) -> dict[str, int]:
    """Four runs: three forecasts (MAE 0.3, 0.1, 0.2; persistence 0.4 each), one without a
    result; ``val_loss`` logged by two."""
    return {
        "alpha": ended(store, "alpha", forecast(0.3, 0.4), {"val_loss": 0.5}),
        "beta": ended(store, "beta", forecast(0.1, 0.4), {"val_loss": 0.2}),
        "gamma": ended(store, "gamma", forecast(0.2, 0.4)),
        "delta": ended(store, "delta", None),
    }


def names(store: Store, *filters: str, **query: Any) -> list[str]:
    scores = [ScoreFilter.parse(text) for text in filters]
    page = store.list_experiments(ExperimentQuery(scores=scores, **query))
    return [r.name for r in page.items]


def test_scores_are_the_results_numbers_by_dotted_path(store: Store, runs: dict[str, int]) -> None:
    items = {r.name: r for r in store.list_experiments().items}
    assert items["beta"].scores == {
        "metrics.MAE.model": 0.1,
        "metrics.MAE.persistence": 0.4,
        "metrics.RelativeMAE vs persistence.model": 0.25,
        "metrics.RelativeMAE vs persistence.persistence": 1.0,
        "training.epochs_run": 3.0,
    }
    assert items["delta"].scores == {}
    assert store.list_score_names() == sorted(items["beta"].scores)


def test_lists_sort_by_a_score_with_runs_lacking_it_last(
    store: Store, runs: dict[str, int]
) -> None:
    key = "score:metrics.MAE.model"
    assert names(store, sort=key, descending=False) == ["beta", "gamma", "alpha", "delta"]
    assert names(store, sort=key) == ["alpha", "gamma", "beta", "delta"]
    for offset in range(5):  # pages cross from the runs with the score into those without
        page = names(store, sort=key, descending=False, offset=offset, limit=2)
        assert page == ["beta", "gamma", "alpha", "delta"][offset : offset + 2]


def test_lists_filter_on_several_scores_and_metrics_at_once(
    store: Store, runs: dict[str, int]
) -> None:
    assert names(store, "metrics.MAE.model<0.3") == ["gamma", "beta"]
    assert names(store, "metrics.MAE.model<=0.3") == ["gamma", "beta", "alpha"]
    assert names(store, "metrics.MAE.model>0.1", "metrics.MAE.model<0.3") == ["gamma"]
    assert names(store, "metrics.MAE.model<0.3", "training.epochs_run=3") == ["gamma", "beta"]
    assert names(store, "metrics.MAE.model<0.3", "metric:val_loss<0.3") == ["beta"]
    assert names(store, "metric:val_loss>0", sort="score:metrics.MAE.model") == ["alpha", "beta"]
    assert names(store, "metrics.MAE.model<1", metric="val_loss", metric_max=0.3) == ["beta"]
    ranked = names(store, "metrics.MAE.model<1", sort="metric:val_loss", descending=False)
    assert ranked == ["beta", "alpha", "gamma"]
    page = store.list_experiments(
        ExperimentQuery(scores=[ScoreFilter.parse("metrics.MAE.model<0.3")], limit=1)
    )
    assert (len(page.items), page.total) == (1, 2)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            ExperimentQuery(sort="score:nope"),
            "sort",
            "cannot sort by 'score:nope': no run has a score 'nope'; sort by id, name",
        ),
        (
            ExperimentQuery(scores=[ScoreFilter("score:nope", "<", 1.0)]),
            "score",
            "cannot filter on 'nope': no run has a score 'nope'; scores: score:metrics.MAE.",
        ),
        (ExperimentQuery(sort="score:"), "sort", "cannot sort by 'score:'; sort by id"),
    ],
)
def test_an_unknown_score_is_refused_naming_the_known_ones(
    store: Store, runs: dict[str, int], query: ExperimentQuery, field: str, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{re.escape(message)}") as raised:
        store.list_experiments(query)
    assert getattr(raised.value, "field", None) == field


def test_an_interrupted_run_and_an_external_one_keep_their_scores(store: Store) -> None:
    record = store.create_experiment("sleeper", {}, name="interrupted")
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    store.interrupt(lease, "cancelled", error="stopped", result={"objective": 0.7})
    external = store.create_experiment("sleeper", {}, name="outside", idle_limit=60.0)
    store.end_external(external.id, "completed", result={"accuracy": 0.9})
    items = {r.name: r.scores for r in store.list_experiments().items}
    assert items == {"interrupted": {"objective": 0.7}, "outside": {"accuracy": 0.9}}


def test_deleting_a_run_deletes_its_scores(store: Store, runs: dict[str, int]) -> None:
    for name in ("alpha", "beta", "gamma"):
        store.delete_experiment(runs[name])
    assert store.list_score_names() == []


def test_score_values_skip_long_lists_flags_and_non_numbers() -> None:
    result = {"a": [1, 2], "curve": list(range(5)), "ok": True, "nan": float("nan"),
              "text": "1.5", "none": None, "deep": {"er": {"x": 2}}}  # fmt: skip
    assert score_values(result) == {"a.0": 1.0, "a.1": 2.0, "deep.er.x": 2.0}
    many = score_values({f"k{i:03}": i for i in range(MAX_SCORES + 50)})
    assert len(many) == MAX_SCORES and list(many)[-1] == f"k{MAX_SCORES - 1:03}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("MAE", "score filter 'MAE' is not <name><op><number>"),
        ("MAE<", "score filter 'MAE<' is not <name><op><number>"),
        ("MAE<abc", "score filter 'MAE<abc': 'abc' is not a finite number"),
        ("MAE<inf", "score filter 'MAE<inf': 'inf' is not a finite number"),
        ("<1", "score filter '<1' is not <name><op><number>"),
        ("metric:<1", "score filter 'metric:<1' names no score"),
    ],
)
def test_a_bad_filter_says_which_part_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{re.escape(message)}"):
        ScoreFilter.parse(text)


def test_filters_parse_names_with_spaces_and_metrics() -> None:
    parsed = ScoreFilter.parse("metrics.RelativeMAE vs persistence.model <= 1")
    assert parsed == ScoreFilter("score:metrics.RelativeMAE vs persistence.model", "<=", 1.0)
    assert ScoreFilter.parse("metric:val_loss>-0.5") == ScoreFilter("metric:val_loss", ">", -0.5)
