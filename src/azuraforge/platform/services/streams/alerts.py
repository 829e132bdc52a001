"""Alerts on streams: rules on what a stream does, each ``pending`` while its condition holds
for less than the stream's ``alert_for`` seconds, then ``firing``, then ``resolved`` once it
holds no more; every change to ``firing`` or ``resolved`` is posted to the server's webhooks
(``alert_webhooks``), signed, and retried with a backoff until it is answered 2xx (for about
three hours: :data:`MAX_ATTEMPTS` tries, the waits doubling from 1 s up to 10 minutes).

The rules (a stream's config turns each on or off, and sets its bound):

- ``accuracy_below``: the champion's accuracy over the stream's last ``window`` outcomes is
  below ``alert_accuracy_below`` (once ``window`` outcomes were scored);
- ``drift``: a drift of the champion's errors opened a candidate that is still in shadow
  (resolved when its test ends it: promoted, kept or undecided);
- ``worker_lost``: the stream's worker stopped renewing its lease and the stream waits for
  another (resolved when one runs it);
- ``restart_loop``: the stream restarted ``alert_restarts`` times or more in the last hour;
- ``lag_above``: a running stream saved no checkpoint for ``alert_lag_above`` seconds.

:class:`AlertKeeper` looks at every stream queued or running (and every one with an open
alert, which its end resolves) each ``alert_interval`` seconds, in the one ``azuraforge
serve`` of the store that holds the streams' duty (:mod:`~azuraforge.platform.jobs.duties`):
any number of servers may run on a store, and each alert and each delivery is made by one.
An alert also moves on only from the state it was read in, so a keeper that outlived its
duty's lease mid-pass does not move it twice.

A delivery is a POST of JSON ``{"event": "firing" | "resolved", "alert": {...}, "stream":
{...}}`` with the headers ``X-AzuraForge-Timestamp`` (seconds), ``X-AzuraForge-Delivery``
(the delivery's id: the same on each try, for a receiver to drop a repeat),
``X-AzuraForge-Attempt`` (the try's number, 1 for the first) and
``X-AzuraForge-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body``
under the server's current webhook key (:mod:`~azuraforge.platform.services.keys`: in the
store or the settings, its text as it is; ``azuraforge keys show webhook`` prints it): a
receiver checks it with :func:`signature` and refuses an old timestamp. Each try is signed
anew, so a delivery refused during a rotation is signed with the new key when tried again.

Delivery is at least once, as Stripe's and GitHub's webhooks are: a try is recorded once its
answer came, so a post whose answer never came (its keeper died mid-post, or the answer came
after the 5 s the keeper waits) is sent again, by the next holder of the duty if need be, with
the same delivery id. A receiver drops a delivery id it already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from azuraforge.platform.services.keys import WEBHOOK, ServerKeys
from azuraforge.platform.services.streams.config import StreamConfig, stream_config
from azuraforge.platform.services.streams.job import STREAM
from azuraforge.platform.services.streams.readings import pace
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import AlertRecord, ExperimentRecord, Store, is_unavailable
from azuraforge.platform.store.alerts import FIRING, OPEN, PENDING, RESOLVED
from azuraforge.platform.store.states import QUEUED, RUNNING

_log = logging.getLogger(__name__)
MAX_ATTEMPTS = 25
"""Tries of a delivery before it is given up."""
LONGEST_WAIT = 600.0
"""The longest wait between two tries (they double from 1 s up to it)."""
_CANDIDATE_STEPS = ("candidate", "promote", "keep", "undecided")
"""The lineage's kinds that open or end a candidate."""


@dataclass(frozen=True)
class Condition:
    """What a rule saw in a stream: whether it holds, its value against its bound, why."""

    rule: str
    holds: bool
    value: float | None = None
    bound: float | None = None
    message: str = ""


def conditions(
    store: Store, record: ExperimentRecord, config: StreamConfig, now: float
) -> list[Condition]:
    """Each rule the stream's config turns on, as it stands at ``now`` (none holds once the
    stream ended: its open alerts resolve)."""
    live = record.status in (QUEUED, RUNNING)
    found = []
    if config.alert_accuracy_below is not None:
        found.append(_accuracy(record, config, config.alert_accuracy_below, live))
    if config.alert_on_drift:
        found.append(_drift(store, record, live))
    if config.alert_on_worker_lost:
        found.append(_worker_lost(record))
    if config.alert_restarts is not None:
        found.append(_restart_loop(record, config.alert_restarts, live, now))
    if config.alert_lag_above is not None:
        found.append(_lag(store, record, config.alert_lag_above, now))
    return found


def _accuracy(
    record: ExperimentRecord, config: StreamConfig, bound: float, live: bool
) -> Condition:
    accuracy = record.metrics.get("champion/recent_accuracy")
    enough = record.metrics.get("scored", 0.0) >= config.window
    holds = live and enough and accuracy is not None and accuracy < bound
    window = f"the champion's accuracy over the last {config.window} outcomes"
    message = "" if accuracy is None else f"{window} is {accuracy:.4f}"
    return Condition("accuracy_below", holds, accuracy, bound, message)


def _drift(store: Store, record: ExperimentRecord, live: bool) -> Condition:
    last = store.last_change(record.id, kinds=_CANDIDATE_STEPS)
    holds = live and last is not None and last.kind == "candidate" and last.reason == "drift"
    message = (
        f"drift at event {last.event}: candidate {last.model} in shadow" if holds and last else ""
    )
    return Condition("drift", holds, message=message)


def _worker_lost(record: ExperimentRecord) -> Condition:
    history = record.restart_history or []
    lost = record.status == QUEUED and bool(history) and history[-1]["reason"] == "lost"
    detail = str(history[-1].get("detail", "")) if lost else ""
    return Condition("worker_lost", lost, message=f"its worker was lost: {detail}")


def _restart_loop(record: ExperimentRecord, most: int, live: bool, now: float) -> Condition:
    recent = [e for e in record.restart_history or [] if e["at"] >= now - 3600]
    count, bound = float(len(recent)), float(most)
    return Condition("restart_loop", live and count >= bound, count, bound,
                     f"{len(recent)} restarts in the last hour")  # fmt: skip


def _lag(store: Store, record: ExperimentRecord, bound: float, now: float) -> Condition:
    lag = pace(store, record, now).lag
    holds = lag is not None and lag > bound
    return Condition("lag_above", holds, lag, bound, f"no checkpoint for {lag or 0:.0f} s")


class AlertKeeper:
    """Keeps the streams' alerts: :meth:`check` moves each rule's alert on (pending, firing,
    resolved) and posts what is owed to ``settings.alert_webhooks`` (``azuraforge serve``
    calls it every ``settings.alert_interval`` seconds, on the process holding the streams'
    duty); it stops between two streams or two posts once ``held`` says that duty is no
    longer this process's."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        post: Callable[..., httpx.Response] | None = None,
        clock: Callable[[], float] = time.time,
        held: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store, self.settings, self.clock, self.held = store, settings, clock, held
        self.keys = ServerKeys(store, settings)
        self._post = post or httpx.Client(timeout=5.0, follow_redirects=False).post

    def check(self) -> None:
        """Look at every watched stream's rules, then post the deliveries that are due."""
        now = self.clock()
        for stream_id in self.store.list_watched_streams(STREAM):
            if not self.held():
                return
            record = self.store.find_experiment(stream_id)
            try:
                if record is not None:
                    self._check_stream(record, now)
            except Exception as e:  # one stream's trouble holds up no other's alerts
                if is_unavailable(e):
                    raise
                _log.exception("alerts: stream %d: %s", stream_id, e)
        self.deliver()

    def _check_stream(self, record: ExperimentRecord, now: float) -> None:
        config = stream_config(record)
        open_alerts = {a.rule: a for a in self.store.list_alerts(record.id, states=OPEN)}
        seen = conditions(self.store, record, config, now)
        for condition in seen:
            self._move(record, config, condition, open_alerts.get(condition.rule), now)
        for rule in set(open_alerts) - {c.rule for c in seen}:  # a rule turned off
            self._move(record, config, Condition(rule, False), open_alerts[rule], now)

    def _move(
        self, record: ExperimentRecord, config: StreamConfig, condition: Condition,
        alert: AlertRecord | None, now: float,
    ) -> None:  # fmt: skip
        """One rule's alert one step on, with the deliveries a change to firing or resolved
        owes."""
        values: dict[str, Any] = {}
        if condition.holds:  # a resolved alert keeps what it saw while it held
            values.update(value=condition.value, bound=condition.bound,
                          message=condition.message[:500])  # fmt: skip
        if alert is None:
            if not condition.holds:
                return
            values.update(experiment_id=record.id, rule=condition.rule, state=PENDING,
                          started_at=now)  # fmt: skip
            started = now
        elif not condition.holds:
            values.update(state=RESOLVED, resolved_at=now, resolved_value=condition.value)
            owed = [RESOLVED] if alert.state == FIRING else []
            self._save(record, alert, values, owed, now)
            return
        else:
            started = alert.started_at
        firing = alert is not None and alert.state == FIRING
        if not firing and now - started >= config.alert_for:
            values.update(state=FIRING, fired_at=now)
            self._save(record, alert, values, [FIRING], now)
        else:
            self._save(record, alert, values, [], now)

    def _save(
        self, record: ExperimentRecord, alert: AlertRecord | None, values: dict[str, Any],
        events: list[str], now: float,
    ) -> None:  # fmt: skip
        shown = {**(_alert_fields(alert) if alert else {}), **values}
        deliveries = [
            (url, event, _payload(record, shown, event, now))
            for event in events
            for url in self.settings.alert_webhooks
        ]
        moved = self.store.set_alert(
            alert.id if alert else None, values, deliveries, now=now,
            expected_state=alert.state if alert else None,
        )  # fmt: skip
        for event in events if moved else []:
            _log.warning("stream %d (%s): alert %s %s: %s", record.id, record.name,
                         shown["rule"], event, shown.get("message", ""))  # fmt: skip

    def deliver(self) -> None:
        """Post each delivery that is due (an alert's posts to one address in order: none
        while an older one waits); a failed one is tried again after a wait that doubles,
        :data:`MAX_ATTEMPTS` times in all."""
        due = self.store.list_due_deliveries(self.clock())
        key = self.keys.signing(WEBHOOK) if due else b""
        for delivery in due:
            if not self.held():
                return
            body = json.dumps(delivery.payload, sort_keys=True).encode()
            stamp, attempts = str(int(self.clock())), delivery.attempts + 1
            headers = {
                "Content-Type": "application/json",
                "X-AzuraForge-Timestamp": stamp,
                "X-AzuraForge-Delivery": str(delivery.id),
                "X-AzuraForge-Attempt": str(attempts),
                "X-AzuraForge-Signature": f"sha256={signature(key, stamp, body)}",
            }
            try:
                answer = self._post(delivery.url, content=body, headers=headers)
                error = "" if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
            except Exception as e:  # unreachable, refused, a malformed address: tried again
                error = f"{type(e).__name__}: {e}"
            now = self.clock()
            if not error:
                self.store.set_delivery(delivery.id, attempts=attempts, delivered_at=now)
                continue
            wait = min(2.0 ** (attempts - 1), LONGEST_WAIT)
            retry = now + wait if attempts < MAX_ATTEMPTS else None
            self.store.set_delivery(delivery.id, attempts=attempts, next_at=retry, error=error)
            if retry is None:
                _log.error("alert webhook to %s: given up after %d tries: %s",
                           _host(delivery.url), attempts, error)  # fmt: skip


def _host(url: str) -> str:
    """The host of a webhook's address (its path may carry a token: never logged)."""
    return urlsplit(url).netloc or "(no host)"


def _alert_fields(alert: AlertRecord) -> dict[str, Any]:
    return {k: getattr(alert, k) for k in ("rule", "state", "value", "bound", "message",
                                           "started_at", "fired_at", "resolved_at",
                                           "resolved_value")}  # fmt: skip


def _payload(
    record: ExperimentRecord, alert: dict[str, Any], event: str, now: float
) -> dict[str, Any]:
    return {
        "event": event,
        "at": now,
        "alert": alert,
        "stream": {
            "id": record.id,
            "name": record.name,
            "project": record.project,
            "status": record.status,
        },
    }


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp + "." + body`` under ``key``: what the header
    ``X-AzuraForge-Signature`` carries after ``sha256=``. A receiver compares it with
    :func:`hmac.compare_digest`."""
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
