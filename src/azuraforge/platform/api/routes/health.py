"""``/health``: whether the API can reach its store, at which schema, on which transport, and
whether that transport's broker answers."""

from __future__ import annotations

from fastapi import APIRouter

from azuraforge import __version__
from azuraforge.errors import TransportUnavailableError
from azuraforge.platform.api.access import PUBLIC
from azuraforge.platform.api.deps import SettingsDep, StoreDep, TransportDep
from azuraforge.platform.api.schemas import BrokerPublic, HealthPublic
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.store import check_schema, head_revision

router = APIRouter(tags=["health"])


@router.get("/health", dependencies=[PUBLIC], response_model=HealthPublic)
def health(store: StoreDep, settings: SettingsDep, transport: TransportDep) -> HealthPublic:
    """``ok`` when the store answers at the schema this version needs (503 with the reason
    otherwise) and so does the broker, if the transport has one; ``degraded``, still 200,
    when the broker does not: this API still reads and cancels, and every instance shares the
    broker, so a load balancer that dropped them all would turn failing submissions into a
    full outage. A schema mismatch is this instance's alone (another version migrated the
    database): 503 takes it out of rotation."""
    store.last_event_id()  # raises StoreUnavailableError -> 503
    check_schema(store.engine)  # raises SchemaMismatchError -> 503
    broker = _broker(transport)
    return HealthPublic(
        status="ok" if broker is None or broker.reachable else "degraded",
        database=store.dialect,
        schema_revision=head_revision(),
        schema_expected=head_revision(),
        transport=settings.transport,
        broker=broker,
        version=__version__,
    )


def _broker(transport: Transport) -> BrokerPublic | None:
    if transport.broker is None:
        return None
    try:
        transport.check()
    except TransportUnavailableError as e:
        return BrokerPublic(url=transport.broker, reachable=False, error=str(e))
    return BrokerPublic(url=transport.broker, reachable=True, error=None)
