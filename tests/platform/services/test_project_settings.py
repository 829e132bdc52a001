"""A project's settings: off until set, set by ``azuraforge projects set`` where the server runs
(audited) as by its admins' PATCH /api/v1/settings, each value checked; the check a
registration or a prediction of an MLflow model makes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.errors import InvalidParameterError, PermissionDeniedError
from azuraforge.platform.services.project_settings import (
    change_settings,
    check_mlflow_models_allowed,
    read_settings,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store


def test_mlflow_models_are_refused_until_allowed(store: Store) -> None:
    store.create_project("lab")
    with pytest.raises(PermissionDeniedError, match="azuraforge projects set lab mlflow_models"):
        check_mlflow_models_allowed(store, "lab")
    assert change_settings(store, {"mlflow_models": True}, "lab") == {"mlflow_models": True}
    check_mlflow_models_allowed(store, "lab")
    with pytest.raises(PermissionDeniedError):  # another project's setting is its own
        check_mlflow_models_allowed(store, "default")
    with pytest.raises(InvalidParameterError, match="takes a bool"):
        change_settings(store, {"mlflow_models": 1}, "lab")
    with pytest.raises(InvalidParameterError, match="settings: mlflow_models"):
        change_settings(store, {"mlflow_model": True}, "lab")
    assert read_settings(store, "lab") == {"mlflow_models": True}


def test_the_cli_sets_a_project_setting(settings: Settings, store: Store) -> None:
    runner, url = CliRunner(), ["--database-url", settings.database_url]
    done = runner.invoke(app, ["projects", "set", "default", "mlflow_models", "true", *url])
    assert done.exit_code == 0, done.output
    assert "mlflow_models is true in default" in done.output
    assert read_settings(store)["mlflow_models"] is True
    [entry] = store.list_audit(action="project.set")
    assert (entry.target, entry.project) == ("mlflow_models: true", "default")
    assert entry.actor.startswith("cli:")
    wrong = runner.invoke(app, ["projects", "set", "default", "mlflow_models", "yes", *url])
    assert wrong.exit_code == 2 and "not a JSON value" in wrong.output
    off = runner.invoke(app, ["projects", "set", "default", "mlflow_models", "false", *url])
    assert off.exit_code == 0 and read_settings(store)["mlflow_models"] is False
