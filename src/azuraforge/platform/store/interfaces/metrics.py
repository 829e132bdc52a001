"""A run's learning curves and summaries, its artifacts, and the event log its readers follow
(store/metrics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from azuraforge.platform.store.records import ArtifactRecord, EventRecord, MetricSummaryRecord


class Metrics(Protocol):
    """A run's logged points, last points, summaries, outcome scores and artifacts.

    A project's view checks that the run named by id is the project's."""

    def outcome_scores(
        self, experiment_id: int, start: int = 0, end: int | None = None
    ) -> dict[str, tuple[int, float, float]]: ...
    def outcome_gains(
        self, experiment_id: int, *, every: int = 1, start: int = 0, end: int | None = None
    ) -> dict[str, list[tuple[float, float, float]]]: ...
    def get_metrics(
        self, experiment_id: int, keys: Sequence[str] = (), max_points: int | None = None
    ) -> dict[str, list[tuple[int, float, float]]]: ...
    def get_last_points(
        self, experiment_id: int, key: str, count: int
    ) -> list[tuple[int, float, float]]: ...
    def get_summaries(self, experiment_id: int) -> list[MetricSummaryRecord]: ...
    def list_artifacts(self, experiment_id: int) -> list[ArtifactRecord]: ...


class Events(Protocol):
    """The event log: a run's events, the project's committed events, and positions in the log.

    A project's view checks the run named by id and forces its ``project``; the log's positions
    (:meth:`event_position`, :meth:`last_event_id`) are the server's and passed on."""

    def list_events(
        self,
        *,
        experiment_id: int | None = None,
        project_id: int | None = None,
        after: int = 0,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]: ...
    def list_committed_events(
        self,
        after: tuple[int, int],
        *,
        project: str | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]: ...
    def event_position(self) -> tuple[int, int]: ...
    def find_event_position(
        self, event_id: int, *, project: str | None = None, experiment_id: int | None = None
    ) -> tuple[int, int] | None: ...
    def last_event_id(self) -> int: ...
