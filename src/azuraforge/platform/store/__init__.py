"""The store: experiments, leases, metrics, events and artifacts in SQLite or PostgreSQL.

``upgrade_database(url)`` creates or migrates the schema; ``Store(url)`` opens it.
"""

from __future__ import annotations

from azuraforge.platform.store.base import DEFAULT_PROJECT, is_unavailable
from azuraforge.platform.store.engine import check_schema, head_revision, make_engine, upgrade
from azuraforge.platform.store.experiments import ExperimentQuery, ExperimentStore
from azuraforge.platform.store.leases import LeaseStore
from azuraforge.platform.store.metrics import MetricStore, Point
from azuraforge.platform.store.records import (
    ArtifactRecord,
    EventRecord,
    ExperimentRecord,
    Lease,
    MetricSummaryRecord,
    Page,
)


class Store(ExperimentStore, LeaseStore, MetricStore):
    """The platform's store, opened by URL (``sqlite:///af.db``, ``postgresql://…``).

    Opening checks that the database schema is the one this version needs
    (:class:`~azuraforge.errors.SchemaMismatchError` names ``azuraforge db upgrade``
    otherwise). Methods are safe from several threads and processes; returned records are
    snapshots; finished runs change only by deletion.
    """


def upgrade_database(url: str) -> str:
    """Create or migrate the database at ``url`` to this version's schema; return its revision."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return head_revision()


__all__ = [
    "DEFAULT_PROJECT",
    "ArtifactRecord",
    "EventRecord",
    "ExperimentQuery",
    "ExperimentRecord",
    "Lease",
    "MetricSummaryRecord",
    "Page",
    "Point",
    "Store",
    "check_schema",
    "head_revision",
    "is_unavailable",
    "upgrade_database",
]
