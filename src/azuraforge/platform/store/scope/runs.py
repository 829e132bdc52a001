"""The project's view of runs and their leases: a run's row (its creation, reading, listing,
editing, end), its tags, what its lease left (uptime, back-off, checkpoint), and the writes a
job makes through its lease (store/experiments.py, store/tags.py, store/leases.py,
store/metrics.py). Each method applies its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.experiment_query import ExperimentQuery
from azuraforge.platform.store.interfaces.runs import LeaseWrites, RunLeases, Runs
from azuraforge.platform.store.metrics import JobWrites, Line, Point
from azuraforge.platform.store.records import ExperimentRecord, Lease, Page
from azuraforge.platform.store.scope.base import ScopeBase, ScopeError
from azuraforge.platform.store.states import QUEUED, RUN


class ScopedRuns(ScopeBase, Runs):
    """:class:`~azuraforge.platform.store.interfaces.Runs` kept to the view's project."""

    def create_experiment(
        self,
        pipeline: str,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        project: str = DEFAULT_PROJECT,
        batch_id: str | None = None,
        requeue_lost: bool = False,
        status: str = QUEUED,
        kind: str = RUN,
        study_id: int | None = None,
        trial_number: int | None = None,
        submitter: str | None = None,
        context: Mapping[str, str] | None = None,
        idle_limit: float | None = None,
        credential_hash: str | None = None,
    ) -> ExperimentRecord:
        return self.store.create_experiment(
            pipeline,
            config,
            name=name,
            project=self.project,
            batch_id=batch_id,
            requeue_lost=requeue_lost,
            status=status,
            kind=kind,
            study_id=study_id,
            trial_number=trial_number,
            submitter=submitter,
            context=context,
            idle_limit=idle_limit,
            credential_hash=credential_hash,
        )

    def get_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord:
        return self.store.get_experiment(experiment_id, project=self.project)

    def find_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord | None:
        return self.store.find_experiment(experiment_id, project=self.project)

    def list_experiments(self, query: ExperimentQuery | None = None) -> Page:
        return self.store.list_experiments(
            dataclasses.replace(query or ExperimentQuery(), project=self.project)
        )

    def list_score_names(self, project: str = DEFAULT_PROJECT) -> list[str]:
        return self.store.list_score_names(project=self.project)

    def list_metric_keys(self, project: str = DEFAULT_PROJECT) -> list[str]:
        return self.store.list_metric_keys(project=self.project)

    def request_cancel(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord:
        return self.store.request_cancel(experiment_id, project=self.project)

    def delete_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord:
        return self.store.delete_experiment(experiment_id, project=self.project)

    def edit_experiment(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        project: str | None = None,
    ) -> ExperimentRecord:
        return self.store.edit_experiment(
            experiment_id, name=name, notes=notes, project=self.project
        )

    def set_run_tags(self, experiment_id: int, tags: Mapping[str, str]) -> None:
        self.check_run(experiment_id)
        self.store.set_run_tags(experiment_id, tags)

    def delete_run_tag(self, experiment_id: int, key: str) -> None:
        self.check_run(experiment_id)
        self.store.delete_run_tag(experiment_id, key)

    def get_run_tags(self, experiment_id: int) -> dict[str, str]:
        self.check_run(experiment_id)
        return self.store.get_run_tags(experiment_id)


class ScopedRunLeases(ScopeBase, RunLeases):
    """:class:`~azuraforge.platform.store.interfaces.RunLeases` kept to the view's project."""

    def find_uptime(self, experiment_id: int) -> float | None:
        self.check_run(experiment_id)
        return self.store.find_uptime(experiment_id)

    def backoff_left(self, experiment_id: int) -> float:
        self.check_run(experiment_id)
        return self.store.backoff_left(experiment_id)

    def cancel_requested(self, experiment_id: int) -> bool:
        self.check_run(experiment_id)
        return self.store.cancel_requested(experiment_id)

    def load_checkpoint(self, experiment_id: int) -> dict[str, Any] | None:
        self.check_run(experiment_id)
        return self.store.load_checkpoint(experiment_id)

    def find_checkpoint_entry(self, experiment_id: int, key: str) -> Any:
        self.check_run(experiment_id)
        return self.store.find_checkpoint_entry(experiment_id, key)


class OwnLeaseWrites(ScopeBase, LeaseWrites):
    """The writes through a lease, on the job's own lease alone (:class:`~azuraforge.platform.
    store.scope.JobStore`; none once its job ended, when ``lease`` is ``None``)."""

    lease: Lease | None

    def check_lease(self, lease: Lease) -> None:
        """Raise :class:`ScopeError` unless ``lease`` is this job's own."""
        if self.lease is None or lease != self.lease:
            raise ScopeError(
                f"a job writes through its own lease ({self.lease}), not through {lease}"
            )

    def renew(self, lease: Lease, ttl: float) -> bool:
        self.check_lease(lease)
        return self.store.renew(lease, ttl)

    def finish(
        self,
        lease: Lease,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        writes: JobWrites | None = None,
    ) -> None:
        self.check_lease(lease)
        self.store.finish(lease, status, error=error, result=result, writes=writes)

    def settle_reaped(self, lease: Lease, error: str, writes: JobWrites | None = None) -> bool:
        self.check_lease(lease)
        return self.store.settle_reaped(lease, error, writes)

    def interrupt(
        self, lease: Lease, status: str, *, error: str, result: dict[str, Any] | None = None
    ) -> str:
        self.check_lease(lease)
        return self.store.interrupt(lease, status, error=error, result=result)

    def restart(self, lease: Lease, reason: str, detail: str, *, delay: float = 0.0) -> str:
        self.check_lease(lease)
        return self.store.restart(lease, reason, detail, delay=delay)

    def write(self, lease: Lease, writes: JobWrites) -> None:
        self.check_lease(lease)
        self.store.write(lease, writes)

    def log_metrics(
        self, lease: Lease, points: Sequence[Point], checkpoint: dict[str, Any] | None = None
    ) -> None:
        self.check_lease(lease)
        self.store.log_metrics(lease, points, checkpoint)

    def set_progress(self, lease: Lease, done: int, total: int, message: str = "") -> None:
        self.check_lease(lease)
        self.store.set_progress(lease, done, total, message)

    def log_lines(self, lease: Lease, lines: Iterable[Line]) -> None:
        self.check_lease(lease)
        self.store.log_lines(lease, lines)

    def add_artifact(self, lease: Lease, path: str, size: int, is_dir: bool) -> None:
        self.check_lease(lease)
        self.store.add_artifact(lease, path, size, is_dir)

    def drop_oldest_lines(
        self, lease: Lease, levels: Collection[str], keep: int
    ) -> tuple[int, int, int]:
        self.check_lease(lease)
        return self.store.drop_oldest_lines(lease, levels, keep)
