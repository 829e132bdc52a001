"""What the study pages show, read in bulk (StudyViews over the store's trial queries), checked
against Optuna's own objects and the platform's runs: a study of real trials (completed,
pruned and failed), a trial Optuna asked for whose run was never queued, and a study whose
importances are computed on a sample.

Doubled on PostgreSQL (``on_both_databases``): the trial queries sort and filter on Optuna's
trial state, a native enum there and text on SQLite, cast to text for both."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from optuna.trial import FrozenTrial, TrialState

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.services.study_views import StudyViews, TrialQuery
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

pytestmark = pytest.mark.on_both_databases

SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "shape": ["bowl", "cup"],
    "fail": [False, True],
}


def finished_study(studies: StudyService, settings: Settings, store: Store) -> int:
    """A finished study of 10 quadratic trials: completed, pruned (median pruner after 5) and
    failed ones (``fail`` drawn true)."""
    definition = StudyDefinition(
        pipeline="quadratic", space=SPACE, n_trials=10, parallelism=2, sampler="random", seed=3
    )
    study = studies.create(definition)
    worker = Worker(settings, store)
    while worker.run_next() is not None:
        pass
    assert store.get_study(study.id).status == "completed"
    return study.id


def optuna_trials(studies: StudyService, study_id: int) -> dict[int, FrozenTrial]:
    optuna_study = studies._load(studies.store.get_study(study_id))
    return {t.number: t for t in optuna_study.get_trials(deepcopy=False)}


def test_the_views_agree_with_optuna_and_the_runs(
    studies: StudyService, settings: Settings, store: Store
) -> None:
    study_id = finished_study(studies, settings, store)
    expected = optuna_trials(studies, study_id)
    runs = {run.number: run for run in store.list_trial_runs(study_id)}
    report = studies.views.report(study_id)
    assert [t["number"] for t in report.trials] == sorted(expected) == list(range(10))
    for trial in report.trials:
        frozen = expected[trial["number"]]
        assert trial["params"] == frozen.params
        assert trial["value"] == frozen.value
        assert trial["optuna_state"] == frozen.state.name.lower()
        assert trial["intermediate_values"] == frozen.intermediate_values
        assert trial["note"] == frozen.user_attrs.get("azuraforge_note")
        run = runs[trial["number"]]
        assert (trial["run_id"], trial["status"]) == (run.id, run.status)
    statuses = {t["status"] for t in report.trials}
    assert {"completed", "failed"} <= statuses, statuses
    failed = [t for t in report.trials if t["status"] == "failed"]
    assert all("asked to fail" in t["note"] for t in failed)

    summary = studies.views.summary(study_id)
    assert sum(summary.counts.values()) == 10
    assert summary.counts == {s: [t["status"] for t in report.trials].count(s) for s in statuses}
    assert summary.best == report.best and report.best is not None
    complete = [t for t in expected.values() if t.state == TrialState.COMPLETE]
    assert report.best["value"] == min(t.value for t in complete)
    assert [p["number"] for p in report.history] == sorted(t.number for t in complete)

    points = studies.views.points(study_id)
    assert points.number == list(range(10))
    assert points.status == [t["status"] for t in report.trials]
    assert points.value == [t["value"] for t in report.trials]
    assert points.run_id == [t["run_id"] for t in report.trials]
    assert points.params["x"] == [t["params"]["x"] for t in report.trials]
    assert set(points.params) == {"x", "shape", "fail"}


PAGES = [
    (TrialQuery(), lambda ts: [t["number"] for t in ts][:4]),
    (TrialQuery(descending=True), lambda ts: [t["number"] for t in ts][::-1][:4]),
    (TrialQuery(sort="value"), lambda ts: by_value(ts, False)[:4]),
    (TrialQuery(sort="value", descending=True, offset=2), lambda ts: by_value(ts, True)[2:6]),
    (TrialQuery(sort="status"),
     lambda ts: [t["number"] for t in sorted(ts, key=lambda t: t["status"])][:4]),
    (TrialQuery(sort="status", descending=True, statuses=["completed", "failed"]),
     lambda ts: [t["number"] for t in sorted(ts, key=lambda t: t["status"], reverse=True)
                 if t["status"] in ("completed", "failed")][:4]),
    (TrialQuery(statuses=["failed"]),
     lambda ts: [t["number"] for t in ts if t["status"] == "failed"][:4]),
    (TrialQuery(offset=8), lambda ts: [8, 9]),
    (TrialQuery(offset=20), lambda ts: []),
]  # fmt: skip
"""Pages of 4 trials, and the numbers each should hold, from the whole list by number."""


def test_a_page_of_trials_is_filtered_sorted_and_cut(
    studies: StudyService, settings: Settings, store: Store
) -> None:
    study_id = finished_study(studies, settings, store)
    every = studies.views.report(study_id).trials
    for query, numbers_of in PAGES:
        page = studies.views.trials(study_id, replace(query, limit=4))
        assert [t["number"] for t in page.trials] == numbers_of(every), query
        matching = [t for t in every if not query.statuses or t["status"] in query.statuses]
        assert page.total == len(matching)
        for trial in page.trials:
            assert trial == every[trial["number"]]


def by_value(trials: list[dict[str, Any]], descending: bool) -> list[int]:
    """Numbers by value (ties by number), trials without a value last."""
    valued = [t for t in trials if t["value"] is not None]
    ordered = sorted(valued, key=lambda t: t["value"], reverse=descending)
    return [t["number"] for t in ordered + [t for t in trials if t["value"] is None]]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        (TrialQuery(statuses=["done"]), "status", "status 'done' is not a trial status"),
        (TrialQuery(sort="params"), "sort",
         "cannot sort trials by 'params'; sort by number, value"),
        (TrialQuery(limit=0), None, "limit must be between 1 and 500, got 0"),
        (TrialQuery(offset=-1), None, "offset must be 0 or more, got -1"),
    ],
)  # fmt: skip
def test_a_bad_page_names_what_is_wrong(
    studies: StudyService, query: TrialQuery, field: str | None, words: str
) -> None:
    study = studies.create(StudyDefinition(pipeline="quadratic", space=SPACE, n_trials=2))
    with pytest.raises(InvalidParameterError, match=words) as raised:
        studies.views.trials(study.id, query)
    assert getattr(raised.value, "field", None) == field  # the API's loc: ["query", field]
    with pytest.raises(NotFoundError, match="study 999 not found"):
        studies.views.trials(999, TrialQuery())


def test_a_trial_without_a_run_shows_optunas_state(studies: StudyService) -> None:
    study = studies.create(StudyDefinition(pipeline="quadratic", space=SPACE, n_trials=4))
    studies._load(study).ask()  # an advance that died between Optuna's ask and the queue
    rows = studies.store.list_trial_rows(study)
    assert [(r.number, r.status, r.run_id is None) for r in rows] == [
        (0, "queued", False), (1, "running", True)
    ]  # fmt: skip
    assert studies.views.summary(study.id).counts == {"queued": 1, "running": 1}
    points = studies.views.points(study.id)
    assert points.status == ["queued", "running"] and points.value == [None, None]
    assert (
        studies.views.importances(study.id).note == "needs at least 2 completed trials; 0 so far"
    )


def test_the_listing_and_the_summary_count_the_same_trials_ended(
    studies: StudyService, settings: Settings, store: Store
) -> None:
    study = studies.create(
        StudyDefinition(pipeline="quadratic", space=SPACE, n_trials=6, parallelism=2, seed=1)
    )
    assert Worker(settings, store).run_next() is not None  # trial 0 completed, 2 queued
    optuna_study = studies._load(study)
    optuna_study.ask()  # asked, no run yet: not ended
    failed = optuna_study.ask()  # failed before its run was queued: ended
    optuna_study.tell(failed.number, state=TrialState.FAIL)
    runs = {run.number: run for run in store.list_trial_runs(study.id)}
    store.delete_experiment(runs[0].id)  # complete in Optuna, its run deleted: ended
    store.request_cancel(runs[1].id)  # its run ended, Optuna not told yet: ended
    rows = store.list_trial_rows(store.get_study(study.id))
    assert [(r.number, r.status, r.ended) for r in rows] == [
        (0, "complete", True), (1, "cancelled", True), (2, "queued", False),
        (3, "running", False), (4, "fail", True),
    ]  # fmt: skip
    assert studies.views.summary(study.id).trials_finished == 3
    assert store.list_study_progress([store.get_study(study.id)])[study.id][0] == 3


def test_importances_are_computed_on_a_sample_once_per_completed_count(
    studies: StudyService, settings: Settings, store: Store
) -> None:
    study_id = finished_study(studies, settings, store)
    views = StudyViews(store, importance_sample=3)
    found = views.importances(study_id)
    completed = studies.views.summary(study_id).counts["completed"]
    assert (found.completed, found.sampled) == (completed, 3)
    assert found.importances is not None or found.note == (
        "no parameter varies among the completed trials"
    )
    assert views.importances(study_id) is found  # kept: the completed count is the same
    whole = studies.views.importances(study_id)
    assert (whole.completed, whole.sampled) == (completed, completed)
    assert whole.importances is not None and set(whole.importances) <= set(SPACE)
