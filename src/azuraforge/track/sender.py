"""The threads behind a tracked run: the **sender** turns what the training loop queued into
batches with ids, sends them about once a second (sooner past :data:`MAX_POINTS`), keeps
them in the spool while the server is away and sends them, once, when it answers again; the
**heartbeat** keeps the run alive through long silent stretches. Neither ever raises into the
training loop: an outage is said once in the log (``azuraforge.track``), and its end once."""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from azuraforge.track.sinks import Sink, SinkRefusedError, SinkUnreachableError
from azuraforge.track.spool import Batch, Line, Point, Spool

log = logging.getLogger("azuraforge.track")

MAX_POINTS = 5_000
"""Points (and log lines) in one batch at most: about 250 kB, well under a server's 1 MB."""
MAX_METRIC_NAME = 200
"""The longest metric name a server keeps."""
POLL = 0.05
"""Seconds between two looks of the sender at the queue's length."""
RETRY = 1.0
"""Seconds between two tries while the server is away."""
COMPLETED = "completed"

Item = tuple[Any, Any, float]
"""What the training loop queues: ``(metrics dict, step, time)``, ``(message, level, time)``,
``(None, ("file", kept file, name), time)`` for a file, ``(None, ("tags", tags), time)`` for
tags, ``(None, ("notes", text), time)`` for the run's notes, ``(None, ("progress", (done,
total, message)), time)`` for its progress."""


class Sender:
    """Sends the run's queued items through ``sink`` from a thread of its own (:meth:`start`),
    every ``interval`` seconds or once :data:`MAX_POINTS` wait, through ``spool`` while the
    sink is unreachable; the run is made on the first call that reaches the sink, with
    ``created`` (pipeline, params, name, idle limit)."""

    def __init__(
        self, queue: deque[Item], sink: Sink, spool: Spool, created: tuple[Any, ...],
        interval: float,
    ) -> None:  # fmt: skip
        self.queue, self.sink, self.spool, self.interval = queue, sink, spool, interval
        self.created = created
        self.meta: dict[str, Any] = spool.meta()
        """What the spool's ``run.meta`` says: kept up to date as the run is made and ends."""
        self.quiet = False
        """Whether outages and refusals go unsaid (a leftover's sending says them itself)."""
        self.run_id: int | None = None
        self.idle_limit = 0.0
        self.cancel_requested = False
        self.over: str | None = None
        """Why the run takes no more writes (refused), once it does not."""
        self._prefix = secrets.token_hex(8)
        self._sequence = 0
        self._away = False
        self._dropped: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="azuraforge-track", daemon=True)
        self._beats = threading.Thread(target=self._beat, name="azuraforge-beat", daemon=True)

    def refused(self) -> bool:
        """Whether the run takes no more writes."""
        return self.over is not None

    def start(self) -> None:
        """Make the run now if the sink answers (else on a later try), and start sending."""
        self._reached(self._create)
        self._thread.start()
        self._beats.start()

    def finish(self, status: str, error: str | None, result: dict[str, Any] | None,
               timeout: float) -> None:  # fmt: skip
        """Send what is queued and kept, then end the run as ``status``, trying at most
        ``timeout`` seconds; what could not be sent stays in the spool with the end (its
        ``run.meta``), said in the log, for another process to send."""
        self._stop.set()
        self._thread.join()
        self._beats.join()
        deadline = time.monotonic() + timeout
        while True:
            self._flush()
            if self.refused():
                break  # said once: a run over (or never made) takes no end
            sent = self.run_id is not None and not self.queue and not len(self.spool)
            if sent and self._reached(lambda: self.sink.end(status, error, result)):
                break
            if time.monotonic() >= deadline:
                self._left_behind(status)
                self._keep_meta(end={"status": status, "error": error, "result": result})
                break
            time.sleep(RETRY)
        if "end" not in self.meta or self.refused():
            self.spool.remove()  # all sent and the run ended, or the run takes no more
        self.spool.close()
        self.sink.close()

    def resume(self, run_id: int, idle_limit: float) -> None:
        """Write the run ``run_id`` that another process made (its leftover spool)."""
        self.run_id, self.idle_limit = run_id, idle_limit
        self.sink.resume(run_id, self.meta.get("sink") or {}, idle_limit)

    def drain(self) -> bool:
        """Send the spool's batches in order (making the run first if it was never made),
        then end the run as its ``run.meta`` says it was to end, if it says so; whether all
        of it went (the caller removes the spool)."""
        self._flush()
        if self.refused() or self.run_id is None or len(self.spool):
            return False
        end = self.meta.get("end")
        if not isinstance(end, dict):
            return True
        status, error, result = end.get("status", COMPLETED), end.get("error"), end.get("result")
        return self._reached(lambda: self.sink.end(status, error, result)) and not self.refused()

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(POLL):
            waiting = time.monotonic() - last
            if waiting >= self.interval or len(self.queue) >= MAX_POINTS:
                self._flush()
                last = time.monotonic()

    def _beat(self) -> None:
        while not self._stop.wait(self._beat_interval()):
            if self.run_id is not None and self.over is None:
                with contextlib.suppress(SinkUnreachableError, SinkRefusedError):
                    self.cancel_requested |= self.sink.heartbeat()  # the sender says why not

    def _beat_interval(self) -> float:
        """A quarter of the run's idle limit, from 0.25 to 30 seconds (1 s before it is made)."""
        return min(max(self.idle_limit / 4, 0.25), 30.0) if self.idle_limit else 1.0

    def _flush(self) -> None:
        """Send the spool's batches, then what is queued (kept in the spool instead while the
        sink does not answer, so that batches arrive in the order made)."""
        batches = self._batches()
        if not self.refused() and self.run_id is None:
            self._reached(self._create)
        if self.refused():
            return  # the run takes no more: what was queued is dropped (said once)
        if self.run_id is not None and (not len(self.spool) or self._send_kept()):
            batches = self._send_each(batches)
        for batch in batches:
            self.spool.put(batch)

    def _send_each(self, batches: list[Batch]) -> list[Batch]:
        """Send ``batches`` in order; those left to keep in the spool (none once the run
        takes no more: they are dropped, said once)."""
        for index, batch in enumerate(batches):
            if not self._reached(lambda b=batch: self._send(b)):
                return batches[index:]
            if self.refused():
                return []
        return []

    def _send_kept(self) -> bool:
        """Send the spool's batches, oldest first; whether all went."""
        for path, batch in self.spool.each():
            if not self._reached(lambda b=batch: self._send(b)):
                return False
            path.unlink()
            if self.refused():
                return False
        return True

    def _send(self, batch: Batch) -> None:
        self.cancel_requested |= self.sink.send(batch)
        if batch.file is not None:
            Path(batch.file).unlink(missing_ok=True)  # the spool's copy, now sent

    def _create(self) -> None:
        pipeline, params, name, idle_limit = self.created
        try:
            self.run_id, self.idle_limit = self.sink.create(pipeline, params, name, idle_limit)
        except SinkRefusedError as e:
            if name is None or "ConflictError" not in str(e):
                raise SinkRefusedError(str(e)) from None  # a run never made takes nothing
            renamed = f"{name}-{secrets.token_hex(3)}"
            log.warning("tracking: the name %r is taken; this run is named %r", name, renamed)
            self.created = (pipeline, params, renamed, idle_limit)
            self.run_id, self.idle_limit = self.sink.create(pipeline, params, renamed, idle_limit)
        self._keep_meta(run=self.run_id, idle_limit=self.idle_limit, created=list(self.created),
                        sink=self.sink.address())  # fmt: skip

    def _keep_meta(self, **changes: Any) -> None:
        """Write what changed into the spool's ``run.meta`` (so that another process can
        send what this one leaves behind)."""
        self.meta.update(changes)
        self.spool.write_meta(self.meta)

    def _reached(self, call: Any) -> bool:
        """Make ``call`` to the sink; whether it went through (or was refused for good:
        then the run takes no more, said once). An outage is said once, and its end."""
        try:
            call()
        except SinkUnreachableError as e:
            self._went_away(e)
            return False
        except SinkRefusedError as e:
            self._was_refused(e)
            return True
        except Exception as e:  # a fault of the tracking itself: never into the training
            log.exception("tracking: a call to %s failed; what it carried is not sent",
                          self.sink.where)  # fmt: skip
            if self.run_id is None:
                self.over = f"{type(e).__name__}: {e}"
            return True
        if self._away:
            self._away = False
            if not self.quiet:
                log.warning("tracking: back: %s answers again; sending what waited",
                            self.sink.where)  # fmt: skip
        return True

    def _went_away(self, e: SinkUnreachableError) -> None:
        """Note that the sink does not answer: said once an outage."""
        if self._away:
            return
        self._away = True
        if not self.quiet:
            log.warning(
                "tracking: %s does not answer (%s); the run's points wait in %s and are "
                "sent once it answers; training goes on", self.sink.where, e,
                self.spool.folder,
            )  # fmt: skip

    def _was_refused(self, e: SinkRefusedError) -> None:
        """Note a refusal: of one batch (said each time), or for good (the run takes no more
        writes, said once)."""
        if not e.run_over:
            log.warning("tracking: run %s refused a batch, not sent (%s)", self.run_id, e)
            return
        if self.over is not None:
            return
        self.over = str(e)
        if self.quiet:
            return
        if self.run_id is None:
            log.warning("tracking: %s did not make the run (%s); nothing of it is sent",
                        self.sink.where, e)  # fmt: skip
            return
        log.warning(
            "tracking: run %s takes no more writes (%s); what it logs from now on is not "
            "sent", self.run_id, e,
        )  # fmt: skip

    def _batches(self) -> list[Batch]:
        """What is queued, taken off the queue, as batches of ids of their own; the run's
        progress rides with the points and lines queued about when it was said."""
        batches: list[Batch] = []
        points: list[Point] = []
        lines: list[Line] = []
        progress: tuple[int, int, str] | None = None
        queue = self.queue
        while queue:
            first, second, when = queue.popleft()
            if isinstance(first, dict):
                points.extend(self._points(first, second, when))
            elif first is None and second[0] == "progress":
                progress = second[1]
            elif first is None:
                batches += self._pending(points, lines, progress)
                points, lines, progress = [], [], None
                batches.append(self._marked(second))
            else:
                lines.append((when, second, first))
            if len(points) + len(lines) >= MAX_POINTS:
                batches += self._pending(points, lines, progress)
                points, lines, progress = [], [], None
        return batches + self._pending(points, lines, progress)

    def _pending(
        self, points: list[Point], lines: list[Line], progress: tuple[int, int, str] | None
    ) -> list[Batch]:
        """The points, lines and progress gathered so far as one batch, if there are any."""
        if points or lines or progress:
            return [Batch(self._next_id(), points, lines, progress=progress)]
        return []

    def _marked(self, marker: tuple[Any, ...]) -> Batch:
        """The batch of one queued tags, notes or file item."""
        if marker[0] == "tags":
            return Batch(self._next_id(), tags=marker[1])
        if marker[0] == "notes":
            return Batch(self._next_id(), notes=marker[1])
        return Batch(self._next_id(), file=marker[1], name=marker[2])

    def _points(self, metrics: dict[str, Any], step: int, when: float) -> list[Point]:
        """The points of one ``log_metrics`` call that a server keeps: finite numbers under
        names of 1 to 200 characters (the others are dropped, said once a name)."""
        kept = []
        for key, value in metrics.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            name = str(key)
            if math.isfinite(number) and 1 <= len(name) <= MAX_METRIC_NAME:
                kept.append((name, int(step), number, when))
            elif name not in self._dropped:
                self._dropped.add(name)
                log.warning(
                    "tracking: metric %.60r at step %s is %.60r: not sent (a metric is a finite "
                    "number named by 1 to %d characters); said once for this name",
                    name, step, value, MAX_METRIC_NAME,
                )  # fmt: skip
        return kept

    def _next_id(self) -> str:
        self._sequence += 1
        return f"{self._prefix}-{self._sequence}"

    def _left_behind(self, status: str) -> None:
        """Say what could not be sent before the end, and where it is."""
        if self.run_id is None:
            log.warning(
                "tracking: %s never answered: the run was not recorded; its batches are kept "
                "in %s, sent by the next track.start_run or `azuraforge track flush`",
                self.sink.where, self.spool.folder,
            )  # fmt: skip
            return
        log.warning(
            "tracking: %s did not answer in time: run %s was not ended %s; its end and %d "
            "batches not sent are kept in %s, sent by the next track.start_run or `azuraforge "
            "track flush` (else the server ends it lost after its idle limit)",
            self.sink.where, self.run_id, status, len(self.spool) + bool(self.queue),
            self.spool.folder,
        )  # fmt: skip
