"""Settings of a project its admins set (``GET``/``PATCH /api/v1/settings``, ``azuraforge
projects set``): their names, what each takes, their defaults, and the checks other services
make with them.

The first is :data:`MLFLOW_MODELS`: whether the project allows MLflow models, off unless an
admin turns it on. An MLflow model is a pickle: loading one runs whatever code its author put
in it, so a project registers or serves one only when its admins said so
(:func:`check_mlflow_models_allowed`; docs/security.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azuraforge.errors import InvalidParameterError, PermissionDeniedError
from azuraforge.platform.store import DEFAULT_PROJECT
from azuraforge.platform.store.interfaces import ProjectSettings

MLFLOW_MODELS = "mlflow_models"
"""Whether the project registers and serves MLflow models (pickles: their code runs)."""


@dataclass(frozen=True)
class SettingRule:
    """What a project setting takes (a JSON type) and its value until an admin sets one."""

    kind: type
    default: Any
    description: str


SETTINGS: Mapping[str, SettingRule] = {
    MLFLOW_MODELS: SettingRule(
        bool,
        False,
        "Register and serve MLflow models in this project. An MLflow model is a pickle: "
        "loading it runs its author's code (docs/security.md).",
    ),
}
"""Every project setting by name."""


def read_settings(store: ProjectSettings, project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    """Every setting of ``project``: the value its admins set, else the default."""
    stored = store.list_project_settings(project=project)
    return {
        name: json.loads(stored[name]) if name in stored else rule.default
        for name, rule in SETTINGS.items()
    }


def change_settings(
    store: ProjectSettings, changes: Mapping[str, Any], project: str = DEFAULT_PROJECT
) -> dict[str, Any]:
    """Set the settings in ``changes`` (each checked first: none is set when one is wrong);
    answer every setting of ``project`` as it is now.

    Raises
    ------
    InvalidParameterError
        For a name no setting has, or a value not of the setting's type.
    """
    for name, value in changes.items():
        _check(name, value)
    for name, value in changes.items():
        store.set_project_setting(name, json.dumps(value), project=project)
    return read_settings(store, project)


def _check(name: str, value: Any) -> None:
    rule = SETTINGS.get(name)
    if rule is None:
        raise InvalidParameterError(
            f"no project setting is named {name!r}; settings: {', '.join(SETTINGS)}"
        )
    if type(value) is not rule.kind:
        raise InvalidParameterError(
            f"project setting {name!r} takes a {rule.kind.__name__}, not {value!r}"
        )


def check_mlflow_models_allowed(store: ProjectSettings, project: str = DEFAULT_PROJECT) -> None:
    """Return if ``project`` allows MLflow models (:data:`MLFLOW_MODELS`); else raise.

    Raises
    ------
    PermissionDeniedError
        (403) Saying why they are refused and how a project admin allows them.
    """
    if read_settings(store, project)[MLFLOW_MODELS]:
        return
    raise PermissionDeniedError(
        f"project {project!r} does not allow MLflow models: an MLflow model is a pickle, and "
        "loading it runs its author's code on this server. A project admin who trusts the "
        "project's models allows them with PATCH /api/v1/settings "
        '{"mlflow_models": true}, or `azuraforge projects set '
        f"{project} mlflow_models true` where the server runs (docs/security.md)"
    )
