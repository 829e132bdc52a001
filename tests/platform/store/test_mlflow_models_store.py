"""The store of MLflow's logged models and datasets, on both databases: a dataset made once by
an insert from a select (two runs logging it), input tags kept in their order (JSON), a
metric's NaN and 64-bit step, ILIKE, conditions in subqueries and ordering by a correlated
latest value with missing ones last are the dialect's."""

from __future__ import annotations

import math
import secrets

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.services.mlflow_models import parse_model_filter
from azuraforge.platform.store import Store
from azuraforge.platform.store.mlflow_models import DatasetIn, ModelMetric, ModelOrder

pytestmark = pytest.mark.on_both_databases


def a_run(store: Store, project: str = "default") -> int:
    record, _ = start_external_run(store, "mlflow", {}, idle_limit=600.0, project=project,
                                   submitter=None)  # fmt: skip
    store.attach_mlflow_run(record.id, 0, {})
    return record.id


def test_datasets_are_kept_once_with_their_input_tags_in_order(store: Store) -> None:
    first, second = a_run(store), a_run(store)
    data = DatasetIn("london", "d1", "local", '{"uri": "x.csv"}', '{"s": 1}', '{"rows": 2}',
                     {"foo": "baz", "mlflow.data.context": "train"})  # fmt: skip
    store.log_run_datasets(first, [data, data])
    store.log_run_datasets(second, [DatasetIn("london", "d1", "local", "{}", tags={})])
    io = store.mlflow_run_io([first, second], project="default")
    assert io[first].datasets == [data]  # once, its schema, profile and tags' order kept
    assert io[second].datasets[0].source == '{"uri": "x.csv"}'  # the experiment's one dataset
    summaries = store.search_mlflow_datasets([0], project="default")
    assert [(s.name, s.context) for s in summaries] == [("london", "train"), ("london", None)]


def test_models_their_metrics_search_and_order(store: Store) -> None:
    run = a_run(store)
    made = [store.create_logged_model(run, 0, project="default", name=name, model_type=kind)
            for name, kind in (("Alpha", "tree"), ("beta", None), ("gamma", "tree"))]  # fmt: skip
    alpha, beta = made[0].id, made[1].id
    store.log_model_metrics(run, [
        ModelMetric(alpha, "acc", 0.5, 1000, 2**40), ModelMetric(alpha, "acc", math.nan, 2000, 1),
        ModelMetric(beta, "acc", 0.9, 1000, 0, "test", "d1"),
    ])  # fmt: skip
    got = store.get_logged_model(alpha, project="default")
    assert [(m.step, math.isnan(m.value)) for m in got.metrics] == [(2**40, False), (1, True)]

    def names(text: str, *orders: ModelOrder, datasets: tuple = ()) -> list[str]:
        found = store.search_logged_models([0], parse_model_filter(text), orders,
                                           project="default", datasets=datasets)  # fmt: skip
        return [m.name for m in found]

    assert names("") == ["gamma", "beta", "Alpha"]  # newest first
    assert names("name ILIKE 'a%' AND model_type = 'tree'") == ["Alpha"]
    assert names("metrics.acc >= 0.5") == ["beta", "Alpha"]  # any value of the model's
    assert names("metrics.acc > 0.1", datasets=[("test", None)]) == ["beta"]
    assert names("", datasets=[("test", "other")]) == []
    latest = ModelOrder("metric", "acc", False)  # alpha's latest (by time) is NaN: none
    assert names("", latest) == ["beta", "gamma", "Alpha"]  # those without last, newest first
    assert names("model_type IN ('tree')", ModelOrder("attribute", "name", True)) == [
        "Alpha", "gamma"]  # fmt: skip


def test_a_model_is_its_projects_alone(store: Store) -> None:
    run = a_run(store)
    elsewhere = f"elsewhere-{secrets.token_hex(3)}"  # on PostgreSQL projects outlive a test
    model = store.create_logged_model(run, 0, project="default", params={"lr": "0.1"})
    store.create_project(elsewhere)
    with pytest.raises(NotFoundError, match="Logged model with ID"):
        store.get_logged_model(model.id, project=elsewhere)
    with pytest.raises(NotFoundError, match=f"Run with id={run} not found"):
        store.create_logged_model(run, 0, project=elsewhere)
    other_run = a_run(store, elsewhere)
    with pytest.raises(NotFoundError):
        store.log_model_metrics(other_run, [ModelMetric(model.id, "acc", 1.0, 0, 0)])
    with pytest.raises(InvalidParameterError, match="does not change"):
        store.set_logged_model_values(model.id, "param", {"lr": "0.2"}, project="default")
    assert store.search_logged_models([0], project=elsewhere) == []
    store.log_run_models(run, "output", [(model.id, 3)])
    assert store.mlflow_run_io([run], project=elsewhere)[run].model_outputs == []
    assert store.mlflow_run_io([run], project="default")[run].model_outputs == [(model.id, 3)]
