"""``azuraforge.testing.studies.insert_study``: a study seeded in bulk into Optuna's tables
(through copies of its columns, not its private models) reads the same through Optuna and
through the study's views, and Optuna goes on adding trials beside it.

Doubled on PostgreSQL (``on_both_databases``): the seeded rows are written straight into each
dialect's tables, and PostgreSQL's id sequence must be moved past them by hand."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from azuraforge.platform.services.studies import StudyService
from azuraforge.testing.studies import OPTUNA_STATES, insert_study

pytestmark = pytest.mark.on_both_databases


def test_a_seeded_study_reads_the_same_through_optuna_and_the_views(
    studies: StudyService,
) -> None:
    store = studies.store
    study = store.get_study(insert_study(store, 60, seed=4))
    optuna_study = optuna.load_study(study_name=study.optuna_name, storage=store.optuna_database)
    trials = optuna_study.get_trials(deepcopy=False)
    report = studies.views.report(study.id)
    assert [t.number for t in trials] == [t["number"] for t in report.trials] == list(range(60))
    for trial, shown in zip(trials, report.trials, strict=True):
        assert trial.state.name == OPTUNA_STATES[shown["status"]]
        assert trial.params == shown["params"]
        assert trial.value == shown["value"]
        assert trial.intermediate_values == shown["intermediate_values"]
        assert trial.user_attrs.get("azuraforge_note") == shown["note"]
    summary = studies.views.summary(study.id)
    assert (summary.study.status, summary.trials_finished) == ("completed", 60)
    assert store.list_study_progress([study])[study.id] == (60, summary.best["value"])

    added = optuna_study.ask()  # the trials' ids (and PostgreSQL's sequence) moved on
    optuna_study.tell(added.number, 1.0)
    assert optuna_study.trials[-1].state == TrialState.COMPLETE
