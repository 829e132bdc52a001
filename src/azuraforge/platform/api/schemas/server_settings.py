"""The bodies of ``/server/settings`` (:mod:`~azuraforge.platform.api.routes.server_settings`):
the server's settings as its admins change them while it runs."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from azuraforge.platform.services.server_settings import (
    CATALOGUE,
    ENVIRONMENT_ONLY,
    SettingState,
    masked,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ServerSettingsRecord


class ServerSettingPublic(BaseModel):
    """A setting as the API process that answered runs it."""

    name: str
    value: JsonValue = Field(description="Its value here; null for a secret (see `set`).")
    set: bool = Field(description="Whether it has a value (for a secret, all that is shown).")
    default: JsonValue = Field(
        description="Its default; null for a secret and for a default made from another "
        "setting (home's folders)."
    )
    applies: Literal["live", "restart"] = Field(
        description="`live`: in force on every replica within a second of a change; "
        "`restart`: stored, in force at each server's next start."
    )
    secret: bool = Field(description="Whether its value is never shown.")
    source: Literal["store", "env", "default"] = Field(
        description="Where its value comes from: set through the API (`store`), the "
        "environment or settings file (`env`), or the default."
    )
    restart_pending: bool = Field(
        description="Whether the store holds another value, in force at the next start."
    )
    description: str

    @classmethod
    def of(cls, state: SettingState) -> ServerSettingPublic:
        """``state`` as the API shows it."""
        setting = state.setting
        return cls(
            name=setting.name, value=state.value, set=state.is_set, default=state.default,
            applies="live" if setting.live else "restart", secret=setting.secret,
            source=state.source, restart_pending=state.restart_pending,
            description=setting.description,
        )  # fmt: skip


class ServerSettingsPublic(BaseModel):
    """Every setting the API may set, and the version of them this process runs."""

    version: int = Field(description="The settings version this process runs (0: none set).")
    data: list[ServerSettingPublic]


def _plain(annotation: Any) -> Any:
    """A setting's type as a request sends it: a secret as its text."""
    if "SecretStr" in str(annotation):
        return list[str] if "list" in str(annotation) else str
    return annotation


def _update_field(name: str) -> tuple[Any, Any]:
    """A setting as a field of :class:`ServerSettingsUpdate`: its type and checks, null
    allowed, unset by default; one the API never sets, any value (refused, saying why)."""
    if name in ENVIRONMENT_ONLY:
        never = f"Never set through the API (422): set AZURAFORGE_{name.upper()} instead."
        return JsonValue, Field(None, description=never)
    info = copy.copy(Settings.model_fields[name])
    info.default, info.default_factory = None, None
    info.annotation = _plain(info.annotation) | None
    return info.annotation, info


ServerSettingsUpdate = create_model(
    "ServerSettingsUpdate",
    __config__=ConfigDict(extra="forbid"),
    __doc__="The settings to change, by name (null takes a setting's change away: back to the "
    "environment's value or the default). Checked as a whole: one wrong, none changes.",
    **{name: _update_field(name) for name in sorted([*CATALOGUE, *ENVIRONMENT_ONLY])},
)  # type: ignore[call-overload]


class ServerSettingsChanged(ServerSettingsPublic):
    """The settings after a change, and what it needs."""

    changed: list[str] = Field(description="The settings the change named.")
    restart_required: list[str] = Field(
        description="Those of them that apply at each server's next start (stored now)."
    )


class ServerSettingsVersionPublic(BaseModel):
    """A version of the settings: who made it, when, what it named."""

    version: int
    actor: str = Field(description="The user who made the change.")
    changed_at: float = Field(description="When, in seconds since the epoch (UTC).")
    changed: list[str] = Field(description="The settings the change named.")
    overrides: dict[str, Any] = Field(
        description="Every setting set through the API after the change; a secret's value "
        'shown as "set".'
    )

    @classmethod
    def of(cls, record: ServerSettingsRecord) -> ServerSettingsVersionPublic:
        """``record`` as the API shows it, its secrets masked."""
        return cls(
            version=record.version, actor=record.actor, changed_at=record.changed_at,
            changed=record.changed,
            overrides={name: masked(name, value) for name, value in record.overrides.items()},
        )  # fmt: skip


class ServerSettingsHistoryPublic(BaseModel):
    """Versions of the settings, newest first."""

    data: list[ServerSettingsVersionPublic]
