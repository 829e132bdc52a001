"""The project's view of a run's learning curves and summaries, its artifacts, and the event log
its readers follow (store/metrics.py). Each method applies its rule
(:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Sequence

from azuraforge.platform.store.interfaces.metrics import Events, Metrics
from azuraforge.platform.store.records import ArtifactRecord, EventRecord, MetricSummaryRecord
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedMetrics(ScopeBase, Metrics):
    """:class:`~azuraforge.platform.store.interfaces.Metrics` kept to the view's project."""

    def outcome_scores(
        self, experiment_id: int, start: int = 0, end: int | None = None
    ) -> dict[str, tuple[int, float, float]]:
        self.check_run(experiment_id)
        return self.store.outcome_scores(experiment_id, start, end)

    def outcome_gains(
        self, experiment_id: int, *, every: int = 1, start: int = 0, end: int | None = None
    ) -> dict[str, list[tuple[float, float, float]]]:
        self.check_run(experiment_id)
        return self.store.outcome_gains(experiment_id, every=every, start=start, end=end)

    def get_metrics(
        self, experiment_id: int, keys: Sequence[str] = (), max_points: int | None = None
    ) -> dict[str, list[tuple[int, float, float]]]:
        self.check_run(experiment_id)
        return self.store.get_metrics(experiment_id, keys, max_points)

    def get_last_points(
        self, experiment_id: int, key: str, count: int
    ) -> list[tuple[int, float, float]]:
        self.check_run(experiment_id)
        return self.store.get_last_points(experiment_id, key, count)

    def get_summaries(self, experiment_id: int) -> list[MetricSummaryRecord]:
        self.check_run(experiment_id)
        return self.store.get_summaries(experiment_id)

    def list_artifacts(self, experiment_id: int) -> list[ArtifactRecord]:
        self.check_run(experiment_id)
        return self.store.list_artifacts(experiment_id)


class ScopedEvents(ScopeBase, Events):
    """:class:`~azuraforge.platform.store.interfaces.Events` kept to the view's project."""

    def list_events(
        self,
        *,
        experiment_id: int | None = None,
        project_id: int | None = None,
        after: int = 0,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]:
        self.check_run(experiment_id)
        return self.store.list_events(
            experiment_id=experiment_id,
            project_id=project_id,
            after=after,
            kinds=kinds,
            limit=limit,
        )

    def list_committed_events(
        self,
        after: tuple[int, int],
        *,
        project: str | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]:
        return self.store.list_committed_events(
            after, project=self.project, kinds=kinds, limit=limit
        )

    def event_position(self) -> tuple[int, int]:
        return self.store.event_position()

    def find_event_position(
        self, event_id: int, *, project: str | None = None, experiment_id: int | None = None
    ) -> tuple[int, int] | None:
        return self.store.find_event_position(
            event_id, project=self.project, experiment_id=experiment_id
        )

    def last_event_id(self) -> int:
        return self.store.last_event_id()
