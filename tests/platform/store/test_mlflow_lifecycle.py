"""The store under MLflow's experiments and runs' lifecycle, on both databases: the search
of experiments by MLflow's grammar (LIKE is case-sensitive on each, ILIKE is not; a tag
compared or missing), their tags, and deleting and restoring experiments and runs (kept,
hidden from searches of active ones)."""

from __future__ import annotations

import uuid

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.services.mlflow_filter import (
    parse_experiment_filter,
    parse_experiment_order,
    parse_filter,
)
from azuraforge.platform.store import Store
from azuraforge.platform.store.mlflow import ACTIVE, DELETED
from azuraforge.platform.store.mlflow_models import DatasetIn

pytestmark = pytest.mark.on_both_databases


def test_experiments_are_searched_by_mlflows_grammar(store: Store) -> None:
    project = f"p{uuid.uuid4().hex[:8]}"
    store.create_project(project)
    ids = {name: store.create_mlflow_experiment(name, project=project, tags=tags).id
           for name, tags in [("a", {"key": "value"}), ("ab", {"key": "vaLue"}),
                              ("Abc", None)]}  # fmt: skip

    def names(text: str = "", order: list[str] | None = None, **kwargs: object) -> list[str]:
        found = store.list_mlflow_experiments(
            project=project, conditions=parse_experiment_filter(text),
            orders=parse_experiment_order(order), **kwargs)  # type: ignore[arg-type]  # fmt: skip
        return [e.name for e in found]

    assert names("name LIKE 'a%'") == ["ab", "a"]
    assert names("name LIKE '_b'") == ["ab"]
    assert names("name ILIKE 'A%'") == ["Abc", "ab", "a"]
    assert names("tags.key LIKE '%aL%'") == ["ab"]
    assert names("tags.key ILIKE '%AL%'") == ["ab", "a"]
    assert names("tags.key IS NULL") == ["Abc", "Default"]
    assert names("name != 'a' AND tags.key IS NOT NULL") == ["ab"]
    assert names(order=["name ASC"]) == ["Abc", "Default", "a", "ab"]
    assert names(f"experiment_id IN ('0', '{ids['ab']}')", ["experiment_id"]) == [
        "Default", "ab"]  # fmt: skip
    assert names(offset=1, limit=2) == names()[1:3]
    with pytest.raises(InvalidParameterError, match="Invalid attribute key"):
        parse_experiment_filter("owner = 'me'")


def test_experiments_and_runs_are_deleted_and_restored_kept(store: Store) -> None:
    project = f"p{uuid.uuid4().hex[:8]}"
    store.create_project(project)
    made = store.create_mlflow_experiment("kept", project=project)
    record, _ = start_external_run(store, "mlflow", {}, idle_limit=600.0, project=project,
                                   submitter=None)  # fmt: skip
    store.attach_mlflow_run(record.id, made.id, {}, user_id="alice", started_at=12.5)
    store.write_mlflow(record.id, points=[("loss", 0, 0.5, 1.0)])
    found = store.get_mlflow_run(record.id)
    assert (found.user_id, found.run.started_at, found.lifecycle) == ("alice", 12.5, ACTIVE)

    store.set_mlflow_run_lifecycle(record.id, DELETED)
    assert store.search_mlflow_runs([made.id], project=project) == []
    hidden = store.search_mlflow_runs([made.id], project=project, lifecycles=(DELETED,))
    assert [r.run.id for r in hidden] == [record.id] and hidden[0].lifecycle == DELETED
    with pytest.raises(InvalidParameterError, match="must be in the 'active' state"):
        store.write_mlflow(record.id, tags={"k": "v"})
    store.set_mlflow_run_lifecycle(record.id, ACTIVE)

    store.set_mlflow_experiment_tag(made.id, "team", "x", project=project)
    store.set_mlflow_experiment_lifecycle(made.id, DELETED, project=project)
    assert store.get_mlflow_run(record.id).lifecycle == DELETED
    assert store.list_mlflow_experiments(project=project, lifecycles=(DELETED,))[0].tags == {
        "team": "x"}  # fmt: skip
    with pytest.raises(InvalidParameterError, match="must be in the 'active' state"):
        store.set_mlflow_experiment_tag(made.id, "team", "y", project=project)
    with pytest.raises(NotFoundError, match="No Experiment with id="):
        store.set_mlflow_experiment_lifecycle(made.id, DELETED, project=project)
    store.set_mlflow_experiment_lifecycle(made.id, ACTIVE, project=project)
    assert store.get_mlflow_run(record.id).latest["loss"][0] == 0.5
    store.rename_mlflow_experiment(made.id, "renamed", project=project)
    store.set_mlflow_experiment_tag(made.id, "team", None, project=project)
    assert store.get_mlflow_experiment(made.id, project=project).tags == {}
    with pytest.raises(NotFoundError, match="No tag with name: team"):
        store.set_mlflow_experiment_tag(made.id, "team", None, project=project)


def test_runs_are_filtered_by_their_input_datasets(store: Store) -> None:
    """``datasets.name``, ``digest`` and ``context`` (an input's JSON tag, read by each
    database's own JSON function)."""
    project = f"p{uuid.uuid4().hex[:8]}"
    store.create_project(project)
    made = store.create_mlflow_experiment("inputs", project=project)
    runs = []
    for name, context in (("train-set", "training"), ("eval-set", "eval"), (None, None)):
        record, _ = start_external_run(store, "mlflow", {}, idle_limit=600.0, project=project,
                                       submitter=None)  # fmt: skip
        store.attach_mlflow_run(record.id, made.id, {})
        if name is not None:
            tags = {"mlflow.data.context": context}
            store.log_run_datasets(record.id, [DatasetIn(name, name[:4], "code", "{}",
                                                         tags=tags)])  # fmt: skip
        runs.append(record.id)

    def found(text: str) -> list[int]:
        hits = store.search_mlflow_runs([made.id], parse_filter(text), project=project)
        return sorted(r.run.id for r in hits)

    assert found("datasets.name = 'train-set'") == [runs[0]]
    assert found("datasets.name LIKE '%-set'") == runs[:2]
    assert found("datasets.digest IN ('eval')") == [runs[1]]
    assert found("datasets.context = 'training'") == [runs[0]]
    assert found("datasets.context ILIKE 'EVAL'") == [runs[1]]
    assert found("datasets.name != 'train-set'") == [runs[1]]  # a run with no input: none
