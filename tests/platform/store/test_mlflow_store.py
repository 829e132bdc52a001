"""The store under MLflow's API: its experiments, a run's params, NaN values, 64-bit steps,
latest metrics and the search of runs by MLflow's filter. On both databases: the queries
(a union for the history, an insert from a select for the default experiment, ordering by
joined values with missing ones last) and the step's type are the dialect's."""

from __future__ import annotations

import math
import uuid

import pytest

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.services.mlflow_filter import parse_filter, parse_order
from azuraforge.platform.store import Store
from azuraforge.platform.store.experiment_query import ExperimentQuery

pytestmark = pytest.mark.on_both_databases


def a_run(store: Store, mlflow_id: int, name: str) -> int:
    record, _ = start_external_run(store, "mlflow", {}, idle_limit=600.0, project="default",
                                   submitter=None)  # fmt: skip
    store.attach_mlflow_run(record.id, mlflow_id, {"mlflow.runName": name})
    return record.id


def test_experiments_runs_and_their_values_as_mlflow_keeps_them(store: Store) -> None:
    default = store.get_mlflow_experiment(0, project="default")
    assert (default.public_id, default.name) == ("0", "Default")
    assert store.find_mlflow_experiment("Default", project="default") == default
    name = f"forecasts-{uuid.uuid4().hex[:6]}"
    made = store.create_mlflow_experiment(name, project="default")
    assert made.artifact_location == f"mlflow-artifacts:/{made.id}"
    with pytest.raises(ConflictError):
        store.create_mlflow_experiment(name, project="default")
    assert store.find_mlflow_experiment(name, project="default") == made

    run = a_run(store, made.id, "first")
    store.write_mlflow(run, points=[("loss", 2**40, 0.5, 10.0), ("loss", 1, 0.9, 5.0)],
                       nans=[("loss", 3, 7.0)], params={"lr": "0.1", "long": "x" * 6000},
                       tags={"team": "a"})  # fmt: skip
    store.write_mlflow(run, params={"lr": "0.1"})  # the same value again: kept
    with pytest.raises(InvalidParameterError, match="does not change"):
        store.write_mlflow(run, params={"lr": "0.2"})
    history = store.mlflow_metric_history(run, "loss")
    assert [step for step, _, _ in history] == [1, 3, 2**40] and math.isnan(history[1][1])
    assert store.mlflow_metric_history(run, "loss", offset=1, limit=1)[0][0] == 3
    found = store.get_mlflow_run(run)
    assert found.latest["loss"] == (0.5, 2**40, 10.0)
    assert found.run.config == {"lr": "0.1", "long": "x" * 6000}
    assert found.run.tags == {"mlflow.runName": "first", "team": "a"}

    nan_last = a_run(store, made.id, "second")
    store.write_mlflow(nan_last, points=[("loss", 1, 0.2, 1.0)], nans=[("loss", 2, 2.0)],
                       params={"lr": "0.01"})  # fmt: skip
    assert math.isnan(store.get_mlflow_run(nan_last).latest["loss"][0])
    other = a_run(store, 0, "elsewhere")
    store.write_mlflow(other, points=[("loss", 1, 0.1, 1.0)])
    store.end_external(run, "completed")

    def searched(text: str, *order: str) -> list[int]:
        found = store.search_mlflow_runs([made.id], parse_filter(text), parse_order(order),
                                         project="default")  # fmt: skip
        return [r.run.id for r in found]

    assert searched("") == [nan_last, run]  # newest first
    assert searched("metrics.loss < 0.3") == [nan_last]
    assert searched("params.lr = '0.1' AND tags.team != 'b'") == [run]
    assert searched("params.lr LIKE '0.0%'") == [nan_last]
    assert searched("attributes.run_name ILIKE 'FIR%'") == [run]
    assert searched("attributes.status = 'FINISHED'") == [run]
    assert searched("attributes.status IN ('RUNNING', 'SCHEDULED')") == [nan_last]
    assert searched(f"attributes.run_id IN ('{run}', 'x')") == [run]
    assert searched("tags.team = 'a' AND metrics.loss > 1") == []
    assert searched("", "metrics.loss ASC") == [nan_last, run]
    assert searched("", "tags.team DESC") == [run, nan_last]  # without the tag: last
    assert searched("", "attributes.start_time") == [run, nan_last]
    both = store.search_mlflow_runs([0, made.id], project="default", limit=1, offset=2)
    assert [r.run.id for r in both] == [run]
    with pytest.raises(NotFoundError):
        store.get_mlflow_experiment(made.id, project="elsewhere")


def test_a_write_names_its_project_and_another_projects_run_is_not_found(store: Store) -> None:
    """``write_mlflow(..., project=)`` checks the run's project in its own query (the scope of
    a request passes it): another project's run is missing, in MLflow's words, and nothing is
    written; the run's own project writes."""
    store.create_project("other")
    run = a_run(store, 0, "mine")
    point = ("loss", 1, 0.5, 1.0)
    with pytest.raises(NotFoundError, match=f"Run with id={run} not found"):
        store.write_mlflow(run, points=[point], params={"lr": "0.1"}, project="other")
    assert store.mlflow_metric_history(run, "loss") == []
    store.write_mlflow(run, points=[point], params={"lr": "0.1"}, project="default")
    assert store.mlflow_metric_history(run, "loss") == [(1, 0.5, 1.0)]


def test_a_listed_run_carries_its_group_tags_metrics_and_scores(store: Store) -> None:
    # The four are read in one statement beside the page (a union of four tables).
    made = store.create_mlflow_experiment(f"listed-{uuid.uuid4().hex[:6]}", project="default")
    run = a_run(store, made.id, "listed")
    store.write_mlflow(run, points=[("loss", 1, 0.25, 1.0), ("acc", 1, 0.5, 1.0)],
                       tags={"zeta": "2", "alpha": "1"})  # fmt: skip
    store.end_external(run, "completed", result={"metrics": {"MAE": {"model": 1.5}}})
    plain = store.create_experiment("sleeper", {}, name=f"plain-{uuid.uuid4().hex[:6]}").id
    items = {r.id: r for r in store.list_experiments(ExperimentQuery(limit=5)).items}
    listed = items[run]
    assert listed.mlflow_experiment == made.name
    assert list(listed.tags) == ["alpha", "mlflow.runName", "zeta"]  # in key order
    assert listed.tags["mlflow.runName"] == "listed"
    assert listed.metrics == {"acc": 0.5, "loss": 0.25}
    assert listed.scores == {"metrics.MAE.model": 1.5}
    assert store.get_experiment(run).scores == listed.scores
    alone = items[plain]
    assert (alone.mlflow_experiment, alone.tags, alone.metrics, alone.scores) == (None, {}, {}, {})
