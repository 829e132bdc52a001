"""The run context a pipeline receives on the platform: buffered, fenced, never in the way.

``log_metrics`` only appends to a buffer; a flusher thread writes the buffer in one
transaction: at once when its last write ended ``flush_interval`` seconds ago or more (a lone
point is not held back), else once that much time has passed since it (so a busy run's many
points cost one commit per interval, and a listener sees each within that time). When the
store cannot be reached, pending points go to ``spool.jsonl`` in the run's folder and are
written, in order, once it is back: training never waits for tracking and never sees its
errors. When the spool cannot take them either (its disk is full), they are held in memory,
up to ``held_points``, until the store or the spool does; past that, new points are
dropped, counted, and the run's end says how many.
When the lease is lost (or a run no worker executes ended elsewhere), the run is asked to
stop and nothing more is written. Where the writes go is a :class:`RunWriter`'s: a worker's
job's, through its lease (:class:`StoreContext`), or a run's written from outside.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.output import OUTPUT_LEVELS
from azuraforge.platform.jobs.run_files import keep_folder
from azuraforge.platform.jobs.threads import KeptThreads
from azuraforge.platform.store import (
    JobWrites,
    Lease,
    Point,
    is_disk_full,
    is_unavailable,
)
from azuraforge.platform.store.interfaces import JobView, LeaseWrites
from azuraforge.platform.store.metrics import Outcome, check_metric_name
from azuraforge.platform.store.states import COMPLETED, FAILED
from azuraforge.platform.store.streams import Answer

_log = logging.getLogger(__name__)
SPOOL_NAME = "spool.jsonl"
_RETRY_SECONDS = 1.0
_FULL_DISK = ("database or disk is full", "no space left on device")
"""How a store says its disk is full (SQLite, then the system's words)."""
_FLUSHERS = KeptThreads("metric-flusher")


class RunWriter(ABC):
    """Where a run context's writes go: a worker's through its lease (:class:`LeaseWriter`),
    or those of a run no worker executes, written from outside with no lease (the store's
    external writes, or the API's over HTTP: ``azuraforge run``'s recording).

    Each method raises :class:`~azuraforge.errors.ConflictError` (a
    :class:`~azuraforge.errors.LeaseLostError` is one) once the run takes no more writes from
    here, its lease lost or the run ended elsewhere: the context then writes nothing more;
    and an error :func:`~azuraforge.platform.store.is_unavailable` says is an outage while
    the store cannot be reached: the context spools and tries again.
    """

    experiment_id: int
    """The run written."""

    @abstractmethod
    def write(self, writes: JobWrites) -> None:
        """Write ``writes`` in one transaction (nothing of them when it raises)."""

    @abstractmethod
    def finish(
        self, status: str, *, error: str | None, result: dict[str, Any] | None, writes: JobWrites
    ) -> None:
        """Write ``writes`` and end the run as ``status``, in one transaction where the
        writer can (a writer over HTTP sends them first, then the end)."""

    def drop_oldest_lines(self, levels: Sequence[str], keep: int) -> tuple[int, int, int]:
        """Delete the run's oldest log lines of ``levels`` beyond its newest ones holding
        ``keep`` characters; the lines and characters dropped, and those kept. Only a
        worker's run keeps printed output: give another writer's context no
        ``output_limit``.

        Raises
        ------
        ConflictError
            For a writer that keeps no printed output.
        """
        raise ConflictError(f"run {self.experiment_id}'s writer keeps no printed output")

    def settle_reaped(self, error: str, writes: JobWrites) -> bool:
        """Record the run, reaped ``lost`` from this writer's lease, ``failed`` with
        ``error`` and ``writes`` (:meth:`~azuraforge.platform.store.Store.settle_reaped`);
        whether it did. A writer without a lease settles nothing."""
        return False


class LeaseWriter(RunWriter):
    """The writes of a worker's job, through its ``lease`` (each fenced by it)."""

    def __init__(self, store: LeaseWrites, lease: Lease) -> None:
        self.store, self.lease, self.experiment_id = store, lease, lease.experiment_id

    def write(self, writes: JobWrites) -> None:
        self.store.write(self.lease, writes)

    def finish(
        self, status: str, *, error: str | None, result: dict[str, Any] | None, writes: JobWrites
    ) -> None:
        self.store.finish(self.lease, status, error=error, result=result, writes=writes)

    def drop_oldest_lines(self, levels: Sequence[str], keep: int) -> tuple[int, int, int]:
        return self.store.drop_oldest_lines(self.lease, levels, keep)

    def settle_reaped(self, error: str, writes: JobWrites) -> bool:
        return self.store.settle_reaped(self.lease, error, writes)


class WriterContext:
    """A :class:`~azuraforge.learn.RunContext` that buffers what the run logs and writes it
    through ``writer`` (:class:`RunWriter`): a worker's job's context is a
    :class:`StoreContext`, whose writer holds the job's lease.

    ``stop_requested`` is called by ``should_stop`` once per batch: it must be cheap (the
    supervisor sets an event; nothing here queries the database per batch). ``data_folder``
    is the folder whose files the run may read (:meth:`open_files`): its project's; ``None``
    for a run the user started on their own files (``azuraforge run --record``). ``blobs`` is
    the blob store the files the run writes into ``output_dir`` (a folder of this machine)
    are kept in once it ended (:meth:`keep_files`); ``None`` keeps them in the folder alone.
    ``output_limit`` bounds the characters the run prints that are kept (``None``: a writer
    that keeps none, :meth:`RunWriter.drop_oldest_lines`). ``full_disk_limit`` is how long
    (seconds) the store may refuse every write because its disk is full before the run is
    asked to stop, and ends failed saying so (:meth:`end_status`): its worker writes its
    lease to the same store, so the lease has lapsed by then (the worker passes its
    ``lease_ttl``); ``None``: never.
    """

    def __init__(
        self,
        writer: RunWriter,
        output_dir: Path,
        *,
        stop_requested: Callable[[], bool] = lambda: False,
        flush_interval: float = 0.05,
        show_progress: bool = False,
        data_folder: DataFolder | None = None,
        output_limit: int | None = 1_000_000,
        held_points: int = 100_000,
        blobs: BlobStore | None = None,
        full_disk_limit: float | None = None,
    ) -> None:
        self.writer, self.output_dir = writer, output_dir
        self.blobs = blobs
        self.data_folder = data_folder
        self.show_progress = show_progress
        self.lease_lost = False
        """Whether the run takes no more writes from here (its lease lost, or it ended
        elsewhere): it is asked to stop, and nothing more is written."""
        self.tracking_error: str | None = None
        """Why metrics stopped being stored (an error that is not an outage), if they did."""
        self._stop_requested = stop_requested
        self._flush_interval = flush_interval
        self._output_limit = output_limit
        self._init_full_disk(full_disk_limit)
        self._init_held(held_points)
        self._init_pending()
        self._init_signals()
        output_dir.mkdir(parents=True, exist_ok=True)
        self.logger = logging.getLogger(f"azuraforge.run.{writer.experiment_id}")
        self._handler = _BufferHandler(self)
        self.logger.addHandler(self._handler)
        self.logger.setLevel(logging.INFO)
        self._flushed = _FLUSHERS.run(self._flush_loop)

    def _init_full_disk(self, limit: float | None) -> None:
        """The state of a store whose disk is full (:meth:`_refused`, :meth:`_full_too_long`,
        :meth:`_settle_if_full`)."""
        self.full_disk_limit = limit
        self.full_disk: tuple[float, str] | None = None
        """Since when (``time.monotonic()``) and why the store refuses every write for a
        full disk, while it does."""
        self.stopped_for_full_disk: str | None = None
        """Why the run was asked to stop for a full disk (the end's error), if it was."""
        self.settled = False
        """Whether the run, reaped while its store's disk was full, was recorded failed
        saying so (:meth:`RunWriter.settle_reaped`)."""

    def _init_held(self, held_points: int) -> None:
        """The state of points neither the store nor the spool takes (:meth:`_spool_pending`)."""
        self.held_points = held_points
        """Most points kept in memory while neither the store nor the spool takes them."""
        self.dropped_points = 0
        """Points logged while ``held_points`` were held already: lost, and said so."""
        self._spool_refused = False

    def _init_pending(self) -> None:
        """The buffers of what the run logged and the flusher has not written yet."""
        self._points: list[Point] = []
        self._lines: list[tuple[float, str, str]] = []
        self._output_stored = 0
        self._artifacts: list[tuple[str, int, bool]] = []
        self._progress: tuple[int, int, str] | None = None
        self._checkpoint: dict[str, Any] | None = None
        self._outcomes: list[Outcome] = []
        """A stream's scored predictions, written with the pending checkpoint."""
        self._changes: list[dict[str, Any]] = []
        self._answers: list[Answer] = []
        """A stream's loop steps and answers to triggers, written with it too."""
        self._covered = 0
        """How many of the buffered points the pending checkpoint comes after."""
        self._checkpointed = False
        """Whether the job saves checkpoints (it read or saved one): points wait for the next."""
        self._non_finite: set[str] = set()
        self._checked_names: set[str] = set()
        self._observers: list[Callable[[dict[str, float], int], None]] = []

    def _init_signals(self) -> None:
        """The lock over the buffers and the events between the run and its flusher."""
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._handing_over = threading.Event()
        self._last_flush = -math.inf
        """When (``time.monotonic()``) the flusher's last write began: under load the next
        one waits until ``flush_interval`` after it (:meth:`_coalesce`)."""
        self._busy = False
        """Whether the run logged while the last write was under way (it logs faster than
        the store writes): then the next write waits to carry what follows too."""

    @property
    def spool(self) -> Path:
        """The file in the run's folder that takes the points the store cannot, in order."""
        return self.output_dir / SPOOL_NAME

    def open_files(
        self, config: type[BaseModel], settings: Mapping[str, Any], *, growing: bool = False
    ) -> dict[str, Any]:
        """``settings`` with each file setting of ``config`` resolved to its file in the data
        folder of the job's project, checked again here, where the run opens it (the
        pipeline receives these paths and never resolves a request's path itself); a
        ``growing`` one is this machine's own (:meth:`DataFolder.open`).

        Raises
        ------
        InvalidParameterError
            For a file setting that names no file of the data folder.
        """
        if self.data_folder is None:
            return dict(settings)
        return self.data_folder.open(config, settings, growing=growing)

    def keep_files(self) -> int:
        """Copy the files the job wrote into its folder to the blob store, under
        :func:`~azuraforge.platform.jobs.run_files.run_prefix` (its spool aside); how many
        (none without a blob store).

        Raises
        ------
        BlobStoreUnavailableError
            When the blob store cannot take them.
        """
        if self.blobs is None:
            return 0
        return keep_folder(
            self.blobs, self.output_dir, self.writer.experiment_id, leave=[SPOOL_NAME]
        )

    # The RunContext protocol ------------------------------------------------------------
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Queue ``metrics`` at ``step``; they are written at once when no write ended in
        the last ``flush_interval``, else with what follows when that interval ends.

        Raises
        ------
        InvalidParameterError
            At once, for a metric name the store cannot keep (the flusher would fail later).
        """
        now = time.time()
        points = [(str(k), int(step), float(v), now) for k, v in metrics.items()]
        for key, _, _, _ in points:
            if key not in self._checked_names:  # a set lookup per point, a check per name
                check_metric_name(key)
                self._checked_names.add(key)
        if not all(math.isfinite(p[2]) for p in points):
            points = self._finite(points)
        with self._lock:
            room = max(self.held_points - len(self._points), 0)
            self._points.extend(points[:room])
        if len(points) > room:
            self._drop(len(points) - room)
        if not self._wake.is_set():
            self._wake.set()
        if self._observers:
            self._notify({key: value for key, _, value, _ in points}, int(step))

    def _drop(self, count: int) -> None:
        """Count ``count`` points dropped; the first time, say so in the run's log."""
        if not self.dropped_points:
            self.logger.error(
                "%d metric points are held in memory, as many as it keeps, and neither the "
                "store nor the spool takes them: points logged until one does are dropped "
                "(the run's end says how many)", self.held_points,
            )  # fmt: skip
        self.dropped_points += count

    def add_metric_observer(self, observer: Callable[[dict[str, float], int], None]) -> None:
        """Call ``observer(metrics, step)`` with the finite values of each ``log_metrics``
        call, in the training thread (a study's trial reports its objective to the pruner).
        An observer that raises is logged and dropped: tracking never stops training."""
        self._observers.append(observer)

    def _notify(self, metrics: dict[str, float], step: int) -> None:
        for observer in list(self._observers):
            try:
                observer(metrics, step)
            except Exception as e:
                self._observers.remove(observer)
                self.logger.warning("a metric observer failed and was removed: %s: %s",
                                    type(e).__name__, e)  # fmt: skip

    def _finite(self, points: list[Point]) -> list[Point]:
        """The finite points; a NaN or infinite value (a diverging run) is not stored, and
        the run's log says so once per metric."""
        for key, step, value, _ in points:
            if not math.isfinite(value) and key not in self._non_finite:
                self._non_finite.add(key)
                self.logger.warning(
                    "metric %s is %s at step %d; NaN and infinite values are not stored",
                    key, value, step,
                )  # fmt: skip
        return [p for p in points if math.isfinite(p[2])]

    def log_output(self, level: str, line: str) -> None:
        """Keep a line the run's process printed (``level`` ``STDOUT`` or ``STDERR``) among
        its log lines; beyond ``output_limit`` characters of them the oldest are dropped."""
        with self._lock:
            self._lines.append((time.time(), level, line))
        self._wake.set()

    def log_artifact(self, path: Path) -> None:
        """Record a file or folder the run produced (its path inside the run's folder)."""
        path = Path(path)
        try:
            relative = str(path.resolve().relative_to(self.output_dir.resolve()))
        except ValueError:
            self.logger.warning("artifact %s is outside the run folder; not recorded", path)
            return
        size = (
            sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            if path.is_dir()
            else path.stat().st_size
        )
        with self._lock:
            self._artifacts.append((relative, size, path.is_dir()))
        self._wake.set()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Remember the latest progress; the flusher writes only the newest one."""
        with self._lock:
            self._progress = (done, total, message)
        self._wake.set()

    def save_checkpoint(
        self, state: Mapping[str, Any], outcomes: Sequence[Outcome] = (),
        changes: Sequence[Mapping[str, Any]] = (), answers: Sequence[Answer] = (),
    ) -> None:  # fmt: skip
        """Keep ``state`` (a JSON object) as what the job resumes from after a restart, and
        store a stream's ``outcomes`` (its predictions scored since its last checkpoint), the
        ``changes`` of its loop and its ``answers`` to triggers since then, with it.

        Written by the flusher in the transaction of the points logged before it: a job
        resuming from it finds every one of those stored and none logged after it. Once a
        job saved a checkpoint, the points it logs are written with its next checkpoint (or
        when it ends), so save one at the end of each step. Only the newest state waiting to
        be written is kept (with the outcomes of every one it replaced).

        Raises
        ------
        InvalidParameterError
            If ``state`` holds what JSON cannot (NaN, an object), at once.
        """
        try:
            copy = json.loads(json.dumps(dict(state), allow_nan=False))
        except (TypeError, ValueError) as e:
            raise InvalidParameterError(f"a checkpoint must be a JSON object: {e}") from None
        with self._lock:
            self._checkpoint, self._covered = copy, len(self._points)
            self._outcomes.extend(outcomes)
            self._changes.extend(dict(change) for change in changes)
            self._answers.extend(answers)
            self._checkpointed = True
        self._wake.set()

    def should_stop(self) -> bool:
        """Whether the run was cancelled (here or through ``stop_requested``), its lease
        lost, or its store's disk full for ``full_disk_limit`` seconds."""
        return (
            self.lease_lost
            or self._cancelled.is_set()
            or self._stop_requested()
            or self._full_too_long()
        )

    def _full_too_long(self) -> bool:
        """Whether the store refused every write for a full disk for ``full_disk_limit``
        seconds: then the run stops (once said, it stays so)."""
        full, limit = self.full_disk, self.full_disk_limit
        if self.stopped_for_full_disk is None and full is not None and limit is not None:
            lasted = time.monotonic() - full[0]
            if lasted >= limit:
                self.stopped_for_full_disk = (
                    f"the disk of the store was full ({full[1]}) for {lasted:.1f} s, as long "
                    "as its lease lives: the run's worker could not renew it, so the run "
                    "stopped; free space on that disk"
                )
                self.logger.error("%s", self.stopped_for_full_disk)
        return self.stopped_for_full_disk is not None

    def cancel(self) -> None:
        """Ask the run to stop at its next check (Ctrl-C, a cancel request seen)."""
        self._cancelled.set()

    # Flushing ---------------------------------------------------------------------------
    def end_status(self, status: str, error: str | None) -> tuple[str, str | None]:
        """``status`` and ``error`` of a run that ended, made honest about tracking: a run
        whose metrics could not all be stored is recorded failed, saying why; one that
        dropped points says how many (a completed one is recorded failed); one stopped for
        a full disk is recorded failed, saying so."""
        if self.stopped_for_full_disk is not None:
            return FAILED, self.stopped_for_full_disk
        if self.tracking_error is not None and status != FAILED:
            return FAILED, f"the run ended {status} but its metrics could not all be stored: " + (
                self.tracking_error
            )
        if not self.dropped_points:
            return status, error
        dropped = (
            f"{self.dropped_points} metric points were dropped: neither the store nor the "
            f"spool could take them, and at most {self.held_points} are held in memory"
        )
        if status == COMPLETED:
            return FAILED, f"the run ended completed but {dropped}"
        return status, dropped if error is None else f"{error}; {dropped}"

    def finish(self, status: str, error: str | None, result: dict[str, Any] | None) -> bool:
        """Record the job's end as ``status`` with what is still buffered, in one transaction
        (the job's last flush); whether it did. It does not when the lease was lost, metrics
        could not all be stored, points wait in the spool, the printed lines would pass
        ``output_limit``, or the write fails: then nothing of the end is written, the buffer
        is kept, and :meth:`close` writes it as ever (the end is recorded after)."""
        self._handing_over.set()
        self._closed.set()
        self._wake.set()
        self._flushed.wait()  # a flush in progress ends first
        if not self._may_finish():
            return self._resume_flushing()
        writes = self._take()
        try:
            self.writer.finish(status, error=error, result=result, writes=writes)
        except Exception:  # close() writes it again, and says what went wrong
            self._requeue(writes)
            return self._resume_flushing()
        self.logger.removeHandler(self._handler)
        return True

    def _may_finish(self) -> bool:
        with self._lock:
            output = self._output_stored + _output_size(self._lines)
        spooled = self.spool.exists() and self.spool.stat().st_size > 0
        return (
            not self.lease_lost
            and self.stopped_for_full_disk is None
            and self.tracking_error is None
            and not self.dropped_points
            and not spooled
            and (self._output_limit is None or output <= self._output_limit)
        )

    def _resume_flushing(self) -> bool:
        self._handing_over.clear()
        self._flushed = _FLUSHERS.run(self._flush_loop)
        return False

    def close(self, timeout: float | None = None) -> bool:
        """Write everything still pending (spool included); return whether all was written.

        Waits for an unreachable store up to ``timeout`` seconds (``None``: as long as it
        takes), so a finished run's metrics are all stored before its status.
        """
        self._closed.set()
        self._wake.set()
        self._flushed.wait(timeout)
        self.logger.removeHandler(self._handler)
        return self._flushed.is_set() and not self._pending()

    def _pending(self) -> bool:
        with self._lock:
            buffered = bool(
                self._points or self._lines or self._artifacts or self._progress
                or self._outcomes or self._changes or self._answers
                or self._checkpoint is not None
            )  # fmt: skip
        return buffered or (self.spool.exists() and self.spool.stat().st_size > 0)

    def _flush_loop(self) -> None:
        while not self.lease_lost:
            self._wake.wait()
            self._coalesce()
            self._wake.clear()
            if self._handing_over.is_set():  # finish writes the rest, with the job's end
                return
            try:
                started = time.monotonic()
                self._flush()
                self._last_flush, self._busy = started, self._wake.is_set()
            except ConflictError as e:  # the lease lost, or the run ended elsewhere
                _log.warning("%s", e)
                self.lease_lost = True
                self._settle_if_full()
            except Exception as e:
                if not is_unavailable(e):
                    self.tracking_error = f"{type(e).__name__}: {e}"
                    _log.error("metrics can no longer be stored: %s", self.tracking_error)
                    return
                self._refused(e)
                self._spool_pending()
                time.sleep(_RETRY_SECONDS)
                self._wake.set()
                continue
            if self.full_disk is not None:
                lasted = time.monotonic() - self.full_disk[0]
                self.logger.warning("the store's disk has room again after %.1f s", lasted)
                self.full_disk = None
            if self._closed.is_set() and not self._pending():
                return

    def _coalesce(self) -> None:
        """When the run logged while the last write was under way, wait until
        ``flush_interval`` has passed since that write began: what a busy run logs meanwhile
        shares one transaction (one a ``flush_interval``, or one a write when writes take
        longer), and a slow write holds back what came during it no longer than the
        interval. A run logging slower than the store writes (a point every 25 ms, say) has
        each point written at once. A close cuts the wait short (a short run's last points
        are not held back)."""
        if not self._busy:
            return
        rest = self._last_flush + self._flush_interval - time.monotonic()
        if rest > 0 and not self._closed.is_set():
            self._closed.wait(rest)

    def _settle_if_full(self) -> None:
        """When the lease was lost to the reaper while the store's disk was full (its
        worker could not renew it there), record the run failed saying so, with every point
        and line still held (:meth:`RunWriter.settle_reaped`); else nothing."""
        if self.full_disk is None:
            return
        lasted = time.monotonic() - self.full_disk[0]
        self.stopped_for_full_disk = self.stopped_for_full_disk or (
            f"the disk of the store was full ({self.full_disk[1]}) for {lasted:.1f} s: the "
            "run's worker could not renew its lease, so the run stopped; free space on that disk"
        )
        writes = self._take()
        try:
            settled = self.writer.settle_reaped(self.stopped_for_full_disk, writes)
        except Exception as e:  # the reaper's lost stands; what was held is said dropped
            _log.warning("run %d: its end for a full disk was not recorded: %s",
                         self.writer.experiment_id, e)  # fmt: skip
            settled = False
        if settled:
            self.settled = True
            _log.warning("run %d: %s", self.writer.experiment_id, self.stopped_for_full_disk)
        else:
            self._requeue(writes)

    def _refused(self, error: Exception) -> None:
        """Note that the store refused a write with ``error`` (it cannot be reached, or its
        disk is full: said once in the run's log, and timed)."""
        if not is_disk_full(error):
            _log.warning("store unreachable, spooling metrics: %s", error)
            return
        if self.full_disk is None:
            said = str(error).lower()
            reason = next(r for r in _FULL_DISK if r in said or r == _FULL_DISK[-1])
            self.full_disk = (time.monotonic(), reason)
            _log.warning("the store's disk is full: %s", error)
            self.logger.error("the store's disk is full (%s): the run's points wait in memory "
                              "until it has room", reason)  # fmt: skip

    def _flush(self) -> None:
        self._replay_spool()
        writes = self._take()
        try:
            self.writer.write(writes)
        except BaseException:
            self._requeue(writes)
            raise
        self._count_output(writes.lines)

    def _take(self) -> JobWrites:
        """Everything buffered, taken out of the buffers (points a pending checkpoint does not
        cover stay: they are written with the next one, or at the end)."""
        with self._lock:
            points, self._points = self._points, []
            if self._checkpointed and not self._closed.is_set():
                self._points = points[self._covered :]
                points = points[: self._covered]
            self._covered = 0
            writes = JobWrites(points, self._lines, self._artifacts, self._progress,
                               self._checkpoint, self._outcomes, self._changes,
                               self._answers)  # fmt: skip
            self._lines, self._artifacts, self._progress, self._checkpoint = [], [], None, None
            self._outcomes, self._changes, self._answers = [], [], []
        return writes

    def _count_output(self, lines: Sequence[tuple[float, str, str]]) -> None:
        """Count the printed characters of ``lines``, written; beyond ``output_limit`` (if
        any), drop the oldest."""
        self._output_stored += _output_size(lines)
        limit = self._output_limit
        if limit is not None and self._output_stored > limit:
            self._drop_oldest_output(limit)

    def _drop_oldest_output(self, limit: int) -> None:
        """Drop the oldest printed lines down to half of ``limit`` (a rotation: the newest
        output is what explains how a run ended), and say so in the run's log."""
        lines, size, self._output_stored = self.writer.drop_oldest_lines(OUTPUT_LEVELS, limit // 2)
        self.logger.warning(
            "the run printed more than %d characters: its %d oldest printed lines (%d "
            "characters) were dropped, the newest kept", limit, lines, size,
        )  # fmt: skip

    def _requeue(self, writes: JobWrites) -> None:
        """Put back what a failed write did not store, ahead of what came since (a newer
        progress or checkpoint replaces the older)."""
        with self._lock:
            self._points[:0] = writes.points
            self._lines[:0] = writes.lines
            self._artifacts[:0] = writes.artifacts
            self._progress = self._progress or writes.progress
            if self._checkpoint is None:
                self._checkpoint = writes.checkpoint
            self._outcomes[:0] = writes.outcomes
            self._changes[:0] = writes.changes
            self._answers[:0] = writes.answers
            self._covered += len(writes.points)  # a newer checkpoint comes after these too

    def _spool_pending(self) -> None:
        """Move the buffered points to the spool file; a job that saves checkpoints keeps
        them buffered instead, to write them with the checkpoint that follows them. Points
        the spool cannot take (a full disk) are held in the buffer, ahead of newer ones."""
        with self._lock:
            if self._checkpointed:
                return
            points, self._points = self._points, []
        if points and not self._spooled(points):
            with self._lock:
                self._points[:0] = points

    def _spooled(self, points: list[Point]) -> bool:
        """Append ``points`` to the spool; whether it took them. A failed append is cut off
        (no partial line stays) and said once in the run's log, until the spool takes
        points again."""
        size = self.spool.stat().st_size if self.spool.exists() else 0
        try:
            with self.spool.open("a") as handle:
                handle.writelines(json.dumps(p) + "\n" for p in points)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.truncate(self.spool, size)
            if not self._spool_refused:
                self.logger.warning(
                    "the spool cannot take metric points either (%s): up to %d are held in "
                    "memory until the store or the spool takes them", e.strerror, self.held_points,
                )  # fmt: skip
            self._spool_refused = True
            return False
        self._spool_refused = False
        return True

    def _replay_spool(self) -> None:
        if not self.spool.exists() or self.spool.stat().st_size == 0:
            return
        with self.spool.open() as handle:
            points = [tuple(json.loads(line)) for line in handle if line.strip()]
        self.writer.write(JobWrites(points=points))
        self.spool.unlink()


def _output_size(lines: Sequence[tuple[float, str, str]]) -> int:
    """The characters of the printed lines among ``lines`` (not the run's log records)."""
    return sum(len(message) for _, level, message in lines if level in OUTPUT_LEVELS)


class _BufferHandler(logging.Handler):
    """Collects the run's log records for the flusher (kept as the run's log events)."""

    def __init__(self, ctx: WriterContext) -> None:
        super().__init__(logging.INFO)
        self.ctx = ctx

    def emit(self, record: logging.LogRecord) -> None:
        with self.ctx._lock:
            self.ctx._lines.append((record.created, record.levelname, self.format(record)))
        self.ctx._wake.set()


class StoreContext(WriterContext):
    """The context of a worker's job: a :class:`WriterContext` writing to the store under the
    job's ``lease`` (:class:`LeaseWriter`), and reading back the checkpoint it saved. The
    ``options`` are :class:`WriterContext`'s."""

    def __init__(self, store: JobView, lease: Lease, output_dir: Path, **options: Any) -> None:
        super().__init__(LeaseWriter(store, lease), output_dir, **options)
        self.store, self.lease = store, lease

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The state this job last saved with :meth:`save_checkpoint` (in an earlier
        process, before a restart), or ``None`` on its first start.

        A job that reads its checkpoint saves them: from here the points it logs wait for
        the checkpoint that follows them, its first one included (written alone, a point
        logged just before the first checkpoint would be logged again by a job killed
        between the two writes)."""
        with self._lock:
            self._checkpointed = True
        return self.store.load_checkpoint(self.lease.experiment_id)
