"""``/server/settings``: the server's settings its admins change while it runs, each change a
new version in the store that every replica applies within a second (a restart setting at its
next start), and their history (server admins only; each change in the audit log)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from azuraforge.platform.api.access import SERVER_ADMIN, client_address
from azuraforge.platform.api.deps import ServerStoreDep
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.server_settings import (
    ServerSettingPublic,
    ServerSettingsChanged,
    ServerSettingsHistoryPublic,
    ServerSettingsPublic,
    ServerSettingsUpdate,
    ServerSettingsVersionPublic,
)
from azuraforge.platform.services import server_settings
from azuraforge.platform.services.access import Identity
from azuraforge.platform.services.server_settings import LiveSettings, SettingRefusedError
from azuraforge.platform.store import Store

router = APIRouter(prefix="/server/settings", tags=["server"])
Admin = Annotated[Identity, SERVER_ADMIN]
ERRORS = error_responses()


@router.get("", dependencies=[SERVER_ADMIN], response_model=ServerSettingsPublic,
            responses=ERRORS)  # fmt: skip
def get_server_settings(request: Request, store: ServerStoreDep) -> ServerSettingsPublic:
    """Every setting the API may set: its value here (a secret's: whether it is set), its
    default, whether it applies live or at a restart, where it comes from, and the version
    this process runs. Server admins only."""
    live: LiveSettings = request.app.state.live
    version = live.version
    return ServerSettingsPublic(version=version, data=_settings(live, store))


@router.patch("", dependencies=[SERVER_ADMIN], response_model=ServerSettingsChanged,
              responses=ERRORS)  # fmt: skip
def change_server_settings(
    body: ServerSettingsUpdate, request: Request, store: ServerStoreDep, who: Admin
) -> ServerSettingsChanged:
    """Change the settings the body names, checked as a whole (a wrong one: 422 naming it,
    nothing changed), as a new version: in force here at once, on every replica within a
    second; a restart setting is stored and named in ``restart_required``. Server admins
    only; audited."""
    live: LiveSettings = request.app.state.live
    try:
        changes = body.model_dump(mode="json", exclude_unset=True)
        change = server_settings.change_settings(store, live, changes, who.user)
    except SettingRefusedError as e:
        raise RequestValidationError(_refused(e)) from None
    named = ", ".join(change.record.changed)
    target = f"version {change.record.version}: {named}"
    store.audit(who.user, "settings.set", target, address=client_address(request))
    return ServerSettingsChanged(
        version=change.record.version, data=_settings(live, store),
        changed=change.record.changed, restart_required=change.restart_required,
    )  # fmt: skip


@router.get("/history", dependencies=[SERVER_ADMIN], response_model=ServerSettingsHistoryPublic,
            responses=ERRORS)  # fmt: skip
def server_settings_history(
    store: ServerStoreDep,
    limit: int = Query(100, ge=1, le=1000, description="How many versions."),
    offset: int = Query(0, ge=0, le=2**31 - 1, description="Versions skipped, newest first."),
) -> ServerSettingsHistoryPublic:
    """Versions of the settings, newest first: who, when, which settings, every override
    after it (secrets shown as set). Server admins only."""
    data = [ServerSettingsVersionPublic.of(r) for r in store.list_server_settings(limit, offset)]
    return ServerSettingsHistoryPublic(data=data)


def _settings(live: LiveSettings, store: Store) -> list[ServerSettingPublic]:
    return [ServerSettingPublic.of(state) for state in server_settings.describe(live, store)]


def _refused(error: SettingRefusedError) -> list[dict[str, object]]:
    """A 422's problems: one for each setting refused (the body, for the change as a
    whole)."""
    return [
        {"type": "value_error", "loc": ("body", name) if name else ("body",), "msg": why,
         "input": None}
        for name, why in error.problems
    ]  # fmt: skip
