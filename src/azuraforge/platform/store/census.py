"""The census of the store's jobs for the platform's metrics: how many of each kind are in
each status, and how long the oldest queued one of each kind has waited. Read at each scrape,
over every project: the same answer from every server of the store."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import func, select

from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.experiments import records_of, select_records
from azuraforge.platform.store.models import Experiment
from azuraforge.platform.store.records import ExperimentRecord
from azuraforge.platform.store.states import QUEUED, RUNNING


class JobCount(NamedTuple):
    """How many ``jobs`` of ``kind`` are in ``status``."""

    kind: str
    status: str
    jobs: int


class CensusStore(StoreBase):
    """Counts of jobs. Safe from any number of threads and processes."""

    def count_jobs(self) -> list[JobCount]:
        """How many jobs of each kind are in each status, of every project."""
        query = select(Experiment.kind, Experiment.status, func.count()).group_by(
            Experiment.kind, Experiment.status
        )
        with self._read() as connection:
            return [JobCount(*row) for row in connection.execute(query)]

    def oldest_queued(self) -> dict[str, float]:
        """When the oldest job of each kind still queued was made (its ``created_at``), of
        every project: a queue that does not move ages."""
        query = (
            select(Experiment.kind, func.min(Experiment.created_at))
            .where(Experiment.status == QUEUED)
            .group_by(Experiment.kind)
        )
        with self._read() as connection:
            return {kind: created for kind, created in connection.execute(query)}

    def list_running(self, kind: str) -> list[ExperimentRecord]:
        """The jobs of ``kind`` running now, of every project."""
        query = select_records().where(Experiment.kind == kind, Experiment.status == RUNNING)
        with self._read() as connection:
            return records_of(connection, connection.execute(query).all())
