"""The registry's changes MLflow's registry makes (rename, description, tags, a version's
MLflow fields, a model's deletion), on both databases: a rename's unique name is caught
inside a transaction holding the model's lock, tags are merged JSON, a version's fields are
written with it."""

from __future__ import annotations

import uuid

import pytest

from azuraforge.errors import ConflictError
from azuraforge.platform.store import Store
from azuraforge.platform.store.registry import VersionMlflow

pytestmark = pytest.mark.on_both_databases


def _version(store: Store, model: str, fields: VersionMlflow | None = None) -> int:
    made = store.create_version(
        model, pipeline="mlflow", artifact_path=f"models/{model}/x", artifact_digest="0" * 64,
        source_experiment_id=None, source_experiment_name="", metrics={}, config={},
        data_fingerprint="", mlflow=fields,
    )  # fmt: skip
    return made.version


def test_rename_tags_and_a_versions_fields(store: Store) -> None:
    name, taken = f"m-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    store.create_model(name, tags={"kind": "a", "team": "x"})
    store.create_model(taken)
    number = _version(store, name, VersionMlflow("runs:/7/model", "", {"data": "2014"}))
    with pytest.raises(ConflictError, match=taken):
        store.update_model(name, new_name=taken)
    renamed = store.update_model(name, new_name=f"{name}-b", description="kept",
                                 tags={"kind": None, "team": "y", "absent": None})  # fmt: skip
    assert (renamed.name, renamed.description, renamed.tags) == (
        f"{name}-b", "kept", {"team": "y"})  # fmt: skip

    changed = store.update_version(f"{name}-b", number, description="d", tags={"n": "1"})
    assert changed.description == "d"
    fields = store.find_versions_mlflow([changed.id])[changed.id]
    assert (fields.source, fields.tags) == ("runs:/7/model", {"data": "2014", "n": "1"})
    assert fields.updated_at is not None
    elsewhere = f"p-{uuid.uuid4().hex[:8]}"
    store.create_project(elsewhere)
    assert store.find_versions_mlflow([changed.id], project=elsewhere) == {}
    assert [v.version for v in store.list_all_versions(models=[f"{name}-b"])] == [number]


def test_a_model_with_an_alias_is_not_deleted(store: Store) -> None:
    name = f"d-{uuid.uuid4().hex[:8]}"
    store.create_model(name)
    number = _version(store, name)
    store.set_alias(name, "live", number, actor="ana")
    with pytest.raises(ConflictError, match=f"{name}@live"):
        store.delete_model(name)
    store.set_alias(name, "live", None, actor="ana")
    assert [v.version for v in store.delete_model(name)] == [number]
    assert store.find_model(name) is None
