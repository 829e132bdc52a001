"""Streams' triggers, the changes they made, their alerts (store/streams.py, store/alerts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from azuraforge.platform.store.alerts import AlertRecord
from azuraforge.platform.store.streams import ChangeRecord, TriggerRecord


class Streams(Protocol):
    """A stream's retraining triggers and the changes they made, and a project's alerts.

    A project's view checks that the stream (a run) named by id is the project's and forces its
    ``project``."""

    def create_trigger(
        self,
        experiment_id: int,
        action: str,
        *,
        learner: str | None = None,
        actor: str,
        reason: str = "",
    ) -> TriggerRecord: ...
    def list_triggers(
        self, experiment_id: int, *, pending: bool = False
    ) -> list[TriggerRecord]: ...
    def last_change(self, experiment_id: int, *, kinds: Sequence[str]) -> ChangeRecord | None: ...
    def list_changes(
        self, experiment_id: int, *, kinds: Sequence[str] = (), after: int = 0, limit: int = 1000
    ) -> list[ChangeRecord]: ...
    def list_alerts(
        self,
        experiment_id: int | None = None,
        *,
        project: str | None = None,
        states: Sequence[str] = (),
        limit: int = 200,
    ) -> list[AlertRecord]: ...
