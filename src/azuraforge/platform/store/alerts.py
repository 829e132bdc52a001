"""Streams' alerts and their deliveries to webhooks: an alert's change of state is written
with the deliveries it owes, in one transaction, so none is sent for a change not stored and
none is lost for one that is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import aliased

from azuraforge.platform.store.base import StoreBase, json_safe
from azuraforge.platform.store.models import AlertDelivery, Experiment, StreamAlert
from azuraforge.platform.store.states import QUEUED, RUNNING

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
"""An alert's states: its condition holds, not yet for long enough; it fires; it holds no
more (after it fired, or before: then nothing was posted, ``fired_at`` is ``None``)."""
OPEN = (PENDING, FIRING)


@dataclass(frozen=True)
class AlertRecord:
    """An alert (:class:`~azuraforge.platform.store.models.StreamAlert`): ``value`` and
    ``message`` as its condition last held, ``resolved_value`` what was seen at its
    resolution."""

    id: int
    experiment_id: int
    rule: str
    state: str
    value: float | None
    bound: float | None
    message: str
    started_at: float
    fired_at: float | None
    resolved_at: float | None
    resolved_value: float | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """A post owed to a webhook (:class:`~azuraforge.platform.store.models.AlertDelivery`)."""

    id: int
    alert_id: int
    url: str
    event: str
    payload: dict[str, Any]
    attempts: int
    next_at: float | None
    delivered_at: float | None
    last_error: str


class AlertStore(StoreBase):
    """Streams' alerts and the deliveries they owe."""

    def list_watched_streams(self, kind: str) -> list[int]:
        """The jobs of ``kind`` (streams) queued or running, or with an open alert, in every
        project: those whose rules an alert keeper looks at."""
        live = select(Experiment.id).where(
            Experiment.kind == kind, Experiment.status.in_((QUEUED, RUNNING))
        )
        alerted = select(StreamAlert.experiment_id).where(StreamAlert.state.in_(OPEN))
        with self._read() as connection:
            ids = {row[0] for row in connection.execute(live.union(alerted))}
        return sorted(ids)

    def list_alerts(
        self,
        experiment_id: int | None = None,
        *,
        project: str | None = None,
        states: Sequence[str] = (),
        limit: int = 200,
    ) -> list[AlertRecord]:
        """Alerts newest first: of one stream (or all, of ``project`` or every one), in
        ``states`` (or any)."""
        query = select(StreamAlert)
        if experiment_id is not None:
            query = query.where(StreamAlert.experiment_id == experiment_id)
        if states:
            query = query.where(StreamAlert.state.in_(states))
        with self._read() as connection:
            if project is not None:
                query = query.join(Experiment, Experiment.id == StreamAlert.experiment_id).where(
                    Experiment.project_id == self.project_id(connection, project)
                )
            rows = connection.execute(query.order_by(StreamAlert.id.desc()).limit(limit)).all()
        return [AlertRecord(**row._mapping) for row in rows]

    def set_alert(
        self, alert_id: int | None, values: Mapping[str, Any],
        deliveries: Sequence[tuple[str, str, dict[str, Any]]] = (), *, now: float,
        expected_state: str | None = None,
    ) -> bool:  # fmt: skip
        """Create an alert (``alert_id`` ``None``) or change one still in ``expected_state``
        to ``values``, with the ``deliveries`` ``(url, event, payload)`` it owes, due now
        (each payload's ``alert`` given the alert's id); whether it was written (not when
        another keeper moved the alert first)."""
        with self._begin() as connection:
            if alert_id is None:
                key = connection.execute(insert(StreamAlert).values(**values)).inserted_primary_key
                assert key is not None
                alert_id = int(key[0])
            else:
                changed = connection.execute(
                    update(StreamAlert)
                    .where(StreamAlert.id == alert_id, StreamAlert.state == expected_state)
                    .values(**values)
                ).rowcount
                if not changed:
                    return False
            for url, event, payload in deliveries:
                payload = {**payload, "alert": {**payload["alert"], "id": alert_id}}
                connection.execute(insert(AlertDelivery).values(
                    alert_id=alert_id, url=url, event=event, payload=json_safe(payload),
                    attempts=0, next_at=now, delivered_at=None, last_error="",
                ))  # fmt: skip
        return True

    def list_due_deliveries(self, now: float, limit: int = 100) -> list[DeliveryRecord]:
        """Deliveries not yet made whose next try is due, oldest first; none while an older
        one of the same alert to the same address waits (a resolved never before its
        firing)."""
        older = aliased(AlertDelivery)
        waiting = select(older.id).where(
            older.alert_id == AlertDelivery.alert_id, older.url == AlertDelivery.url,
            older.id < AlertDelivery.id, older.delivered_at.is_(None), older.next_at.is_not(None),
        )  # fmt: skip
        query = (
            select(AlertDelivery)
            .where(AlertDelivery.delivered_at.is_(None), AlertDelivery.next_at <= now,
                   ~waiting.exists())
            .order_by(AlertDelivery.id)
            .limit(limit)
        )  # fmt: skip
        with self._read() as connection:
            return [DeliveryRecord(**row._mapping) for row in connection.execute(query).all()]

    def list_deliveries(self, alert_id: int) -> list[DeliveryRecord]:
        """An alert's deliveries, oldest first."""
        query = select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)
        with self._read() as connection:
            rows = connection.execute(query.order_by(AlertDelivery.id)).all()
        return [DeliveryRecord(**row._mapping) for row in rows]

    def set_delivery(
        self, delivery_id: int, *, attempts: int, delivered_at: float | None = None,
        next_at: float | None = None, error: str = "",
    ) -> None:  # fmt: skip
        """What a try of a delivery came to: delivered, or the next try (``None``: given up)
        and the error."""
        with self._begin() as connection:
            connection.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == delivery_id)
                .values(attempts=attempts, delivered_at=delivered_at, next_at=next_at,
                        last_error=error[:500])
            )  # fmt: skip
