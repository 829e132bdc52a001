"""What a running run writes (metrics, progress, log lines, artifacts) and reading it back.

Every write is fenced by the run's lease and adds an event row in the same transaction, so
listeners see exactly what was committed, in commit order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, insert, select, update

from azuraforge.errors import InvalidParameterError, shorten
from azuraforge.platform.store.base import OLDEST_RUNNING_TX, StoreBase, json_safe
from azuraforge.platform.store.models import (
    Artifact,
    Event,
    Experiment,
    MetricPoint,
    MetricSummary,
    StreamOutcome,
)
from azuraforge.platform.store.records import (
    ArtifactRecord,
    EventRecord,
    Lease,
    MetricSummaryRecord,
)
from azuraforge.platform.store.streams import Answer, write_stream_steps

MAX_METRIC_NAME = 200
Point = tuple[str, int, float, float]
"""(key, step, value, time) of one logged metric value."""


Line = tuple[float, str, str]
"""(time, level, message) of one log line of a run."""
ArtifactEntry = tuple[str, int, bool]
"""(path inside the run's folder, size, is a folder) of one artifact."""
Progress = tuple[int, int, str]
"""(done, total, message) of a run's progress."""
Outcome = tuple[int, float, str, float, bool, float, float]
"""(event index, event time, model, probability of up, went up, log-loss, the price's relative
change over the horizon) of one scored prediction of a stream."""


@dataclass(frozen=True)
class JobWrites:
    """What a job's context buffered since its last flush, written in one transaction
    (:meth:`MetricStore.write`), or with the job's end (:meth:`LeaseStore.finish`)."""

    points: Sequence[Point] = ()
    lines: Sequence[Line] = ()
    artifacts: Sequence[ArtifactEntry] = ()
    progress: Progress | None = None
    checkpoint: dict[str, Any] | None = None
    """The job's state to resume from (a JSON object), saved after these points."""
    outcomes: Sequence[Outcome] = ()
    """A stream's predictions scored since its last checkpoint (they come with the next)."""
    changes: Sequence[dict[str, Any]] = ()
    """The steps of a stream's loop since its last checkpoint (rows of ``stream_changes``)."""
    answers: Sequence[Answer] = ()
    """The stream's triggers it took since its last checkpoint."""

    def __bool__(self) -> bool:
        written = self.points or self.lines or self.artifacts or self.progress or self.outcomes
        return bool(written or self.changes or self.answers) or self.checkpoint is not None

    def check(self) -> None:
        """Raise :class:`InvalidParameterError` for what the store cannot keep (a metric's
        name, a NaN or infinite value of a point or an outcome: SQLite cannot store NaN),
        before anything is written."""
        for key in {point[0] for point in self.points}:
            check_metric_name(key)
        if not all(map(math.isfinite, (point[2] for point in self.points))):
            key, step, value, _ = next(p for p in self.points if not math.isfinite(p[2]))
            raise InvalidParameterError(
                f"metric {key!r} at step {step} is {value}; only finite values are stored"
            )
        for event, _, model, probability, _, loss, gain in self.outcomes:
            if not all(map(math.isfinite, (probability, loss, gain))):
                raise InvalidParameterError(
                    f"the outcome of {model!r} at event {event} has probability "
                    f"{probability}, loss {loss} and gain {gain}; only finite values are stored"
                )

    def row_values(self) -> dict[str, Any]:
        """What these writes change in the run's row: its checkpoint and progress."""
        values: dict[str, Any] = {}
        if self.checkpoint is not None:
            values["checkpoint"] = json_safe(self.checkpoint)
        if self.progress is not None:
            done, total, message = self.progress
            values.update(progress=_fraction(done, total), progress_message=message[:200])
        return values


class MetricStore(StoreBase):
    """Writes of a running run (each checks its lease) and reads of what runs wrote."""

    def write(self, lease: Lease, writes: JobWrites) -> None:
        """Write what a job's context buffered in one transaction: its metric points (the
        run's summaries updated, one event), its log lines, artifacts, progress, and its
        checkpoint, so a job resuming from a checkpoint finds stored every point logged
        before it, and none after.

        Raises
        ------
        LeaseLostError
            If the lease is no longer held; nothing is written.
        StoreUnavailableError
            If the database cannot be reached; nothing is written (retry later).
        InvalidParameterError
            If a value is NaN or infinite or a metric's name is not one the store keeps;
            nothing is written.
        """
        if not writes:
            return
        writes.check()
        with self._begin() as connection:
            project_id = self._fence(connection, lease, writes.row_values() or None)
            write_buffered(connection, project_id, lease.experiment_id, writes)

    def log_metrics(
        self, lease: Lease, points: Sequence[Point], checkpoint: dict[str, Any] | None = None
    ) -> None:
        """Write ``points`` (and the job's ``checkpoint``, after them) in one transaction,
        as :meth:`write` does."""
        self.write(lease, JobWrites(points=points, checkpoint=checkpoint))

    def set_progress(self, lease: Lease, done: int, total: int, message: str = "") -> None:
        """Record how far the run is (``done`` of ``total``) and a short message."""
        self.write(lease, JobWrites(progress=(done, total, message)))

    def log_lines(self, lease: Lease, lines: Iterable[Line]) -> None:
        """Store log lines ``(time, level, message)`` of the run."""
        self.write(lease, JobWrites(lines=list(lines)))

    def add_artifact(self, lease: Lease, path: str, size: int, is_dir: bool) -> None:
        """Record a file or folder the run produced, by its path inside the run's folder;
        recording a path again (a model folder saved every epoch) updates its row."""
        self.write(lease, JobWrites(artifacts=[(path, size, is_dir)]))

    def outcome_scores(
        self, experiment_id: int, start: int = 0, end: int | None = None
    ) -> dict[str, tuple[int, float, float]]:
        """Each model's ``(predictions, accuracy, mean log-loss)`` over the stream's
        predictions made at events ``start`` to ``end`` (excluded; ``None``: to the last
        scored), computed again from its scored rows."""
        right = case(((StreamOutcome.probability >= 0.5) == StreamOutcome.up, 1.0), else_=0.0)
        query = (
            select(StreamOutcome.model, func.count(), func.avg(right),
                   func.avg(StreamOutcome.loss))
            .where(StreamOutcome.experiment_id == experiment_id, StreamOutcome.event >= start)
            .group_by(StreamOutcome.model)
        )  # fmt: skip
        if end is not None:
            query = query.where(StreamOutcome.event < end)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return {model: (int(n), float(accuracy), float(loss)) for model, n, accuracy, loss in rows}

    def outcome_gains(
        self, experiment_id: int, *, every: int = 1, start: int = 0, end: int | None = None
    ) -> dict[str, list[tuple[float, float, float]]]:
        """Each model's ``(time, probability of up, gain)`` of its predictions made at events
        ``start`` to ``end`` (excluded) whose index is a multiple of ``every`` (a stream's
        horizon: predictions whose outcomes do not overlap), in event order; rows stored
        before gains were are left out."""
        query = (
            select(StreamOutcome.model, StreamOutcome.time, StreamOutcome.probability,
                   StreamOutcome.gain)
            .where(StreamOutcome.experiment_id == experiment_id, StreamOutcome.event >= start,
                   StreamOutcome.event % every == 0)
            .order_by(StreamOutcome.model, StreamOutcome.event)
        )  # fmt: skip
        if end is not None:
            query = query.where(StreamOutcome.event < end)
        found: dict[str, list[tuple[float, float, float]]] = {}
        with self._read() as connection:
            for model, when, probability, gain in connection.execute(query):
                if gain is not None:
                    found.setdefault(model, []).append((when, probability, gain))
        return found

    def drop_oldest_lines(
        self, lease: Lease, levels: Collection[str], keep: int
    ) -> tuple[int, int, int]:
        """Delete the run's oldest log lines of ``levels`` beyond its newest ones holding
        ``keep`` characters; return the lines and characters dropped, and those kept."""
        with self._begin() as connection:
            self._fence(connection, lease)
            rows = connection.execute(
                select(Event.id, Event.payload)
                .where(Event.experiment_id == lease.experiment_id, Event.kind == "log")
                .order_by(Event.id.desc())
            ).all()
            kept = dropped_size = 0
            dropped: list[int] = []
            for event_id, payload in rows:
                if payload.get("level") not in levels:
                    continue
                size = len(payload.get("message", ""))
                if not dropped and kept + size <= keep:
                    kept += size
                else:
                    dropped.append(event_id)
                    dropped_size += size
            for start in range(0, len(dropped), 1000):  # bound the statement's parameters
                connection.execute(
                    delete(Event).where(Event.id.in_(dropped[start : start + 1000]))
                )
        return len(dropped), dropped_size, kept

    def get_metrics(
        self, experiment_id: int, keys: Sequence[str] = (), max_points: int | None = None
    ) -> dict[str, list[tuple[int, float, float]]]:
        """Each metric's ``(step, value, time)`` points in step order, at most ``max_points``
        per metric (evenly spaced, first and last kept) when given."""
        query = select(
            MetricPoint.key, MetricPoint.step, MetricPoint.value, MetricPoint.time
        ).where(MetricPoint.experiment_id == experiment_id)
        if keys:
            query = query.where(MetricPoint.key.in_(keys))
        curves: dict[str, list[tuple[int, float, float]]] = {}
        with self._read() as connection:
            for key, step, value, when in connection.execute(
                query.order_by(MetricPoint.key, MetricPoint.step, MetricPoint.id)
            ):
                curves.setdefault(key, []).append((step, value, when))
        if max_points is not None:
            curves = {key: downsample(points, max_points) for key, points in curves.items()}
        return curves

    def get_last_points(
        self, experiment_id: int, key: str, count: int
    ) -> list[tuple[int, float, float]]:
        """The metric ``key``'s last ``count`` ``(step, value, time)`` points, in step order."""
        query = (
            select(MetricPoint.step, MetricPoint.value, MetricPoint.time)
            .where(MetricPoint.experiment_id == experiment_id, MetricPoint.key == key)
            .order_by(MetricPoint.step.desc(), MetricPoint.id.desc())
            .limit(count)
        )
        with self._read() as connection:
            return [(step, value, when) for step, value, when in connection.execute(query)][::-1]

    def get_summaries(self, experiment_id: int) -> list[MetricSummaryRecord]:
        """Last, lowest and highest value of each metric the run logged."""
        with self._read() as connection:
            rows = connection.execute(
                select(MetricSummary)
                .where(MetricSummary.experiment_id == experiment_id)
                .order_by(MetricSummary.key)
            ).all()
        # Row.count is a tuple method: read the column by name.
        return [
            MetricSummaryRecord(r.key, r.last, r.min, r.max, r.step, r._mapping["count"])
            for r in rows
        ]

    def list_artifacts(self, experiment_id: int) -> list[ArtifactRecord]:
        """The files and folders the run recorded, in the order recorded."""
        with self._read() as connection:
            rows = connection.execute(
                select(Artifact)
                .where(Artifact.experiment_id == experiment_id)
                .order_by(Artifact.id)
            ).all()
        return [ArtifactRecord(r.path, r.size, r.is_dir, r.created_at) for r in rows]

    def list_events(
        self,
        *,
        experiment_id: int | None = None,
        project_id: int | None = None,
        after: int = 0,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]:
        """Events with id above ``after``, oldest first, for one run or one project."""
        query = select(Event).where(Event.id > after)
        if experiment_id is not None:
            query = query.where(Event.experiment_id == experiment_id)
        if project_id is not None:
            query = query.where(Event.project_id == project_id)
        if kinds:
            query = query.where(Event.kind.in_(kinds))
        with self._read() as connection:
            rows = connection.execute(query.order_by(Event.id).limit(limit)).all()
        return [_event_record(r) for r in rows]

    def list_committed_events(
        self,
        after: tuple[int, int],
        *,
        project: str | None = None,
        kinds: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[EventRecord]:
        """Events of every run (of ``project``, or every one) past position ``after`` (an
        :attr:`EventRecord.position`), in an order later commits only extend: a stream over
        all runs resumes after the last position it saw and misses nothing.

        Event ids alone do not give that on PostgreSQL: two runs' transactions may commit in
        the other order than they took their ids. So events are read by (transaction id, id),
        and only from transactions older than every one still running.
        """
        tx, event_id = after
        query = select(Event).where((Event.tx > tx) | ((Event.tx == tx) & (Event.id > event_id)))
        if kinds:
            query = query.where(Event.kind.in_(kinds))
        with self._read() as connection:
            if project is not None:
                query = query.where(Event.project_id == self.project_id(connection, project))
            if connection.dialect.name == "postgresql":
                query = query.where(Event.tx < OLDEST_RUNNING_TX)
            rows = connection.execute(query.order_by(Event.tx, Event.id).limit(limit)).all()
        return [_event_record(r) for r in rows]

    def event_position(self) -> tuple[int, int]:
        """The position a stream over every run starts from to see what is committed next."""
        if self.dialect != "postgresql":
            return (0, self.last_event_id())
        with self._read() as connection:
            return (connection.execute(select(OLDEST_RUNNING_TX)).scalar_one(), 0)

    def find_event_position(
        self, event_id: int, *, project: str | None = None, experiment_id: int | None = None
    ) -> tuple[int, int] | None:
        """The position (:attr:`EventRecord.position`) of event ``event_id`` of ``project``
        (of run ``experiment_id`` when given), where a stream that sent it resumes; ``None``
        when no such event is kept: deleted with its run, dropped with the run's oldest log
        lines, another project's or run's, never written.

        Without ``experiment_id`` (a stream over every run, read in position order) the event
        must also be one such a stream can have sent: on PostgreSQL, from a transaction older
        than every one still running (else events of those older transactions would fall
        before the resume point and never be sent).
        """
        query = select(Event.tx, Event.id).where(Event.id == event_id)
        if experiment_id is not None:
            query = query.where(Event.experiment_id == experiment_id)
        with self._read() as connection:
            if project is not None:
                query = query.where(Event.project_id == self.project_id(connection, project))
            if experiment_id is None and connection.dialect.name == "postgresql":
                query = query.where(Event.tx < OLDEST_RUNNING_TX)
            row = connection.execute(query).first()
        return None if row is None else (int(row.tx), int(row.id))

    def last_event_id(self) -> int:
        """The id of the newest event (0 when none): where a listener starts."""
        with self._read() as connection:
            return int(connection.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0)


def _event_record(row: Any) -> EventRecord:
    return EventRecord(
        row.id, row.project_id, row.experiment_id, row.kind, row.payload, row.created_at, row.tx
    )


def check_metric_name(key: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``key`` fits the store (1 to
    :data:`MAX_METRIC_NAME` characters; PostgreSQL refused longer ones, SQLite kept them)."""
    if not 1 <= len(key) <= MAX_METRIC_NAME:
        raise InvalidParameterError(
            f"metric name {shorten(key, 40, quoted=True)} does not fit the store; use 1 to "
            f"{MAX_METRIC_NAME} characters"
        )


def downsample(points: list[Any], most: int) -> list[Any]:
    """At most ``most`` of ``points``, evenly spaced, keeping the first and the last.

    >>> downsample(list(range(10)), 4)
    [0, 3, 6, 9]
    """
    if most < 2 or len(points) <= most:
        return points[: max(most, 1)] if most < 2 else points
    last = len(points) - 1
    return [points[round(i * last / (most - 1))] for i in range(most)]


def write_buffered(
    connection: Connection, project_id: int, experiment_id: int, writes: JobWrites
) -> None:
    """Write ``writes`` (checked; the run's row fenced and its values set already) and their
    events, in the order the run made them known: points, lines, artifacts, progress."""
    event = StoreBase._event
    if writes.points:
        _insert_points(connection, experiment_id, writes.points)
        _summarise(connection, project_id, experiment_id, writes.points)
        points = [[k, s, v] for k, s, v, _ in writes.points]
        event(connection, project_id, experiment_id, "metrics", {"points": points}, finite=True)
    for when, level, message in writes.lines:
        line = {"time": when, "level": level, "message": message[:10_000]}
        event(connection, project_id, experiment_id, "log", line)
    for path, size, is_dir in writes.artifacts:
        _add_artifact(connection, project_id, experiment_id, path, size, is_dir)
    if writes.outcomes:
        _insert_outcomes(connection, experiment_id, writes.outcomes)
    if writes.changes or writes.answers:
        write_stream_steps(connection, experiment_id, writes.changes, writes.answers)
    if writes.progress is not None:
        done, total, message = writes.progress
        progress = {"progress": _fraction(done, total), "done": done, "total": total,
                    "message": message[:200]}  # fmt: skip
        event(connection, project_id, experiment_id, "progress", progress)


def _add_artifact(
    connection: Connection, project_id: int, experiment_id: int, path: str, size: int,
    is_dir: bool,
) -> None:  # fmt: skip
    values = {"path": path, "size": size, "is_dir": is_dir, "created_at": time.time()}
    # The lease makes this the run's only writer: no insert can race the update.
    updated = connection.execute(
        update(Artifact)
        .where(Artifact.experiment_id == experiment_id, Artifact.path == path)
        .values(size=size, is_dir=is_dir, created_at=values["created_at"])
    ).rowcount
    if not updated:
        connection.execute(insert(Artifact).values(experiment_id=experiment_id, **values))
    StoreBase._event(connection, project_id, experiment_id, "artifact", values)


def _insert_points(connection: Connection, experiment_id: int, points: Sequence[Point]) -> None:
    # NOTE: one driver-level executemany of tuples; building a dict per row through
    # SQLAlchemy's insert() cost more than SQLite's own work (benchmarks/platform_vs_mlflow.py).
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        "INSERT INTO metric_points (experiment_id, key, step, value, time) "
        f"VALUES ({', '.join([mark] * 5)})"
    )
    connection.exec_driver_sql(statement, [(experiment_id, *point) for point in points])


def _fraction(done: int, total: int) -> float:
    """How far ``done`` of ``total`` is, in [0, 1] (0 for no total)."""
    return min(max(done / total, 0.0), 1.0) if total > 0 else 0.0


def _insert_outcomes(
    connection: Connection, experiment_id: int, outcomes: Sequence[Outcome]
) -> None:
    # As _insert_points: one driver-level executemany.
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        "INSERT INTO stream_outcomes (experiment_id, event, time, model, probability, up, "
        f"loss, gain) VALUES ({', '.join([mark] * 8)})"
    )
    connection.exec_driver_sql(statement, [(experiment_id, *row) for row in outcomes])


_UPDATE_SUMMARY = (
    update(MetricSummary)
    .where(MetricSummary.experiment_id == bindparam("the_run"),
           MetricSummary.key == bindparam("the_key"))
    .values(last=bindparam("new_last"), step=bindparam("new_step"), min=bindparam("new_min"),
            max=bindparam("new_max"), count=bindparam("new_count"))
)  # fmt: skip
"""A summary row's new values (each key's, of the rows of :func:`_summarise`)."""
_SUMMARIES = select(
    MetricSummary.key, MetricSummary.last, MetricSummary.min, MetricSummary.max,
    MetricSummary.step, MetricSummary.count.label("n"),
).where(
    MetricSummary.experiment_id == bindparam("run"),
    MetricSummary.key.in_(bindparam("keys", expanding=True)),
)  # fmt: skip
"""The summary rows of a run (``run``) for the keys ``keys``; built once, as the update."""


def _summarise(
    connection: Connection, project_id: int, experiment_id: int, points: Sequence[Point]
) -> None:
    """Fold ``points`` into the run's summary rows (last value at the highest step, min,
    max, count)."""
    steps: dict[str, list[int]] = {}
    values: dict[str, list[float]] = {}
    for key, step, value, _ in points:
        steps.setdefault(key, []).append(step)
        values.setdefault(key, []).append(value)
    found = connection.execute(_SUMMARIES, {"run": experiment_id, "keys": list(steps)})
    stored = {row.key: row for row in found}
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for key, key_steps in steps.items():
        key_values = values[key]
        last_step = max(key_steps)
        last_at = len(key_steps) - 1 - key_steps[::-1].index(last_step)  # the latest of equals
        summary = {"last": key_values[last_at], "step": last_step, "min": min(key_values),
                   "max": max(key_values), "count": len(key_values)}  # fmt: skip
        old = stored.get(key)
        if old is None:
            inserts.append({"project_id": project_id, "experiment_id": experiment_id, "key": key,
                            **summary})  # fmt: skip
            continue
        if last_step < old.step:
            summary["last"], summary["step"] = old.last, old.step
        updates.append({"the_run": experiment_id, "the_key": key,
                        "new_last": summary["last"], "new_step": summary["step"],
                        "new_min": min(summary["min"], old.min),
                        "new_max": max(summary["max"], old.max),
                        "new_count": old.n + summary["count"]})  # fmt: skip
    if updates:  # one statement for every key
        connection.execute(_UPDATE_SUMMARY, updates)
    if inserts:
        kind = connection.scalar(select(Experiment.kind).where(Experiment.id == experiment_id))
        connection.execute(insert(MetricSummary), [{**row, "kind": kind} for row in inserts])
