"""Runs and their leases: a run's row (its creation, reading, listing, editing, end), its tags,
what its lease left (uptime, back-off, checkpoint), and the writes a job makes through its lease
(store/experiments.py, store/tags.py, store/leases.py, store/metrics.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.experiment_query import ExperimentQuery
from azuraforge.platform.store.metrics import JobWrites, Line, Point
from azuraforge.platform.store.records import ExperimentRecord, Lease, Page
from azuraforge.platform.store.states import QUEUED, RUN


class Runs(Protocol):
    """A project's runs: their rows, created, read, listed, edited, cancelled and deleted, and
    their tags.

    A project's view forces its ``project`` on each method that takes one (the list's query
    included) and checks that each run named by id is the project's."""

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
    ) -> ExperimentRecord: ...
    def get_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord: ...
    def find_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord | None: ...
    def list_experiments(self, query: ExperimentQuery | None = None) -> Page: ...
    def list_score_names(self, project: str = DEFAULT_PROJECT) -> list[str]: ...
    def list_metric_keys(self, project: str = DEFAULT_PROJECT) -> list[str]: ...
    def request_cancel(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord: ...
    def delete_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord: ...
    def edit_experiment(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        project: str | None = None,
    ) -> ExperimentRecord: ...
    def set_run_tags(self, experiment_id: int, tags: Mapping[str, str]) -> None: ...
    def delete_run_tag(self, experiment_id: int, key: str) -> None: ...
    def get_run_tags(self, experiment_id: int) -> dict[str, str]: ...


class RunLeases(Protocol):
    """What a run's lease left for the run's readers: its uptime, its back-off, a cancel asked, its
    checkpoint.

    A project's view checks that the run named by id is the project's."""

    def find_uptime(self, experiment_id: int) -> float | None: ...
    def backoff_left(self, experiment_id: int) -> float: ...
    def cancel_requested(self, experiment_id: int) -> bool: ...
    def load_checkpoint(self, experiment_id: int) -> dict[str, Any] | None: ...
    def find_checkpoint_entry(self, experiment_id: int, key: str) -> Any: ...


class LeaseWrites(Protocol):
    """The writes through a lease: a job's points, lines, progress and artifacts, its renewal and
    its end.

    A project's requests are offered none
    (:data:`~azuraforge.platform.store.scope.NOT_FOR_REQUESTS`); a job's view offers them on the
    job's own lease alone."""

    def renew(self, lease: Lease, ttl: float) -> bool: ...
    def finish(
        self,
        lease: Lease,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        writes: JobWrites | None = None,
    ) -> None: ...
    def settle_reaped(self, lease: Lease, error: str, writes: JobWrites | None = None) -> bool: ...
    def interrupt(
        self, lease: Lease, status: str, *, error: str, result: dict[str, Any] | None = None
    ) -> str: ...
    def restart(self, lease: Lease, reason: str, detail: str, *, delay: float = 0.0) -> str: ...
    def write(self, lease: Lease, writes: JobWrites) -> None: ...
    def log_metrics(
        self, lease: Lease, points: Sequence[Point], checkpoint: dict[str, Any] | None = None
    ) -> None: ...
    def set_progress(self, lease: Lease, done: int, total: int, message: str = "") -> None: ...
    def log_lines(self, lease: Lease, lines: Iterable[Line]) -> None: ...
    def add_artifact(self, lease: Lease, path: str, size: int, is_dir: bool) -> None: ...
    def drop_oldest_lines(
        self, lease: Lease, levels: Collection[str], keep: int
    ) -> tuple[int, int, int]: ...
