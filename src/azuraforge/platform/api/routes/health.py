"""``/health``: whether the API can reach its store, at which schema, on which transport."""

from __future__ import annotations

from fastapi import APIRouter

from azuraforge import __version__
from azuraforge.platform.api.deps import SettingsDep, StoreDep
from azuraforge.platform.api.schemas import HealthPublic
from azuraforge.platform.store import head_revision

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
def health(store: StoreDep, settings: SettingsDep) -> HealthPublic:
    """``ok`` when the store answers (503 with the reason otherwise)."""
    store.last_event_id()  # raises StoreUnavailableError -> 503
    return HealthPublic(
        status="ok",
        database=store.dialect,
        schema_revision=head_revision(),
        transport=settings.transport,
        version=__version__,
    )
