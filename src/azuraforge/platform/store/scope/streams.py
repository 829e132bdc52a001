"""The project's view of streams' triggers, the changes they made and their alerts
(store/streams.py, store/alerts.py). Each method applies its rule
(:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Sequence

from azuraforge.platform.store.alerts import AlertRecord
from azuraforge.platform.store.interfaces.streams import Streams
from azuraforge.platform.store.scope.base import ScopeBase
from azuraforge.platform.store.streams import ChangeRecord, TriggerRecord


class ScopedStreams(ScopeBase, Streams):
    """:class:`~azuraforge.platform.store.interfaces.Streams` kept to the view's project."""

    def create_trigger(
        self,
        experiment_id: int,
        action: str,
        *,
        learner: str | None = None,
        actor: str,
        reason: str = "",
    ) -> TriggerRecord:
        self.check_run(experiment_id)
        return self.store.create_trigger(
            experiment_id, action, learner=learner, actor=actor, reason=reason
        )

    def list_triggers(self, experiment_id: int, *, pending: bool = False) -> list[TriggerRecord]:
        self.check_run(experiment_id)
        return self.store.list_triggers(experiment_id, pending=pending)

    def last_change(self, experiment_id: int, *, kinds: Sequence[str]) -> ChangeRecord | None:
        self.check_run(experiment_id)
        return self.store.last_change(experiment_id, kinds=kinds)

    def list_changes(
        self, experiment_id: int, *, kinds: Sequence[str] = (), after: int = 0, limit: int = 1000
    ) -> list[ChangeRecord]:
        self.check_run(experiment_id)
        return self.store.list_changes(experiment_id, kinds=kinds, after=after, limit=limit)

    def list_alerts(
        self,
        experiment_id: int | None = None,
        *,
        project: str | None = None,
        states: Sequence[str] = (),
        limit: int = 200,
    ) -> list[AlertRecord]:
        return self.store.list_alerts(
            experiment_id, project=self.project, states=states, limit=limit
        )
