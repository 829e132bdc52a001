"""Hyper-parameter studies: their rows, their trial runs, and the lock that orders changes.

A study's trials are runs (``kind="trial"``) linked by ``study_id``; Optuna keeps its own
record of each trial in its tables of the same database. Whoever advances a study (tells
Optuna how trials ended, asks it for new ones) holds :meth:`StudyStore.lock_study` first, so
two workers never ask for the same trial slot.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Row, delete, event, exists, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError
from azuraforge.platform.store import engine as engines
from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.engine import normalise_url
from azuraforge.platform.store.fork_gate import SQLITE_CONNECT_ARGS
from azuraforge.platform.store.models import Experiment, Project, TuningStudy
from azuraforge.platform.store.records import StudyRecord, TrialRunRecord
from azuraforge.platform.store.states import QUEUED, RUNNING
from azuraforge.platform.store.study_trials import trial_runs

if TYPE_CHECKING:
    import optuna

STUDY_RUNNING, STUDY_COMPLETED, STUDY_CANCELLED, STUDY_FAILED = (
    "running",
    "completed",
    "cancelled",
    "failed",
)
STUDY_FINISHED = frozenset({STUDY_COMPLETED, STUDY_CANCELLED, STUDY_FAILED})
"""States a study never leaves."""
ACTIVE = (QUEUED, RUNNING)
"""States of a trial run that holds one of its study's parallel slots."""

_memory_lock = threading.Lock()
"""The study lock of in-memory SQLite databases (one process sees them)."""
_kept_optuna_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
"""Engines of the Optuna storages stores keep (:attr:`StudyStore.optuna_database`)."""


def _drop_inherited_connections() -> None:
    # A forked process keeps the storages (and their compiled statements) but must open
    # connections of its own: the pooled ones stay its parent's, untouched.
    for engine in list(_kept_optuna_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_drop_inherited_connections)


class StudyLock:
    """A study held by :meth:`StudyStore.lock_study`: its row as read under the lock and
    changed since by :meth:`update`, which changes it before the lock is released."""

    def __init__(self, store: StudyStore, study: StudyRecord, connection: Connection | None):
        self.store, self.study, self._connection = store, study, connection

    def update(self, **values: Any) -> None:
        """Set columns of the study's row (``status``, ``trials_created``...)."""
        statement = update(TuningStudy).where(TuningStudy.id == self.study.id).values(**values)
        if self._connection is not None:
            self._connection.execute(statement)
        else:
            with self.store._begin() as connection:
                connection.execute(statement)
        self.study = replace(self.study, **values)


class StudyStore(StoreBase):
    """Studies of the store. Records are snapshots; every method is safe from several
    threads and processes at once."""

    @cached_property
    def optuna_database(self) -> optuna.storages.RDBStorage:
        """Optuna's storage in the store's database (:func:`optuna_storage`), opened on first
        use and kept for the store's life. A worker's forked run process inherits it: opening
        a storage and compiling its statements again cost each trial several milliseconds.
        """
        storage = optuna_storage(self.url)
        _kept_optuna_engines.add(storage.engine)
        return storage

    def close(self) -> None:
        """Close every pooled connection, Optuna's storage's too."""
        super().close()
        if "optuna_database" in self.__dict__:
            self.optuna_database.engine.dispose()

    def create_study(
        self,
        *,
        name: str,
        optuna_name: str,
        pipeline: str,
        base_config: Mapping[str, Any],
        space: Mapping[str, Any],
        objective: str,
        direction: str,
        sampler: str,
        pruner: str,
        n_trials: int,
        parallelism: int,
        seed: int | None,
        project: str = DEFAULT_PROJECT,
        submitter: str | None = None,
    ) -> StudyRecord:
        """Store a new study, ``running`` with no trial yet, asked for by ``submitter``.

        Raises
        ------
        ConflictError
            If ``name`` is taken in the project.
        """
        with self._begin() as connection:
            values = dict(
                project_id=self.project_id(connection, project), name=name,
                optuna_name=optuna_name, pipeline=pipeline, base_config=dict(base_config),
                space=dict(space), objective=objective, direction=direction, sampler=sampler,
                pruner=pruner, n_trials=n_trials, parallelism=parallelism, seed=seed,
                trials_created=0, status=STUDY_RUNNING, created_at=time.time(),
                submitter=submitter,
            )  # fmt: skip
            try:
                with connection.begin_nested():
                    study_id: int = connection.execute(
                        insert(TuningStudy).values(**values).returning(TuningStudy.id)
                    ).scalar_one()
            except IntegrityError:
                raise ConflictError(
                    f"a study named {name!r} already exists in project {project!r}; choose "
                    "another name"
                ) from None
        return self.get_study(study_id)

    def get_study(self, study_id: int, *, project: str | None = None) -> StudyRecord:
        """The study with this id (in ``project``, when given).

        Raises
        ------
        NotFoundError
            ``study 7 not found in sqlite:///…``.
        """
        with self._read() as connection:
            found = _find(connection, study_id, project)
        if found is None:
            raise self.not_found(f"study {study_id}", project)
        return found

    def list_studies(
        self, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[StudyRecord], int]:
        """One page of the project's studies, newest first, and how many there are."""
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            where = TuningStudy.project_id == project_id
            counted = select(func.count()).select_from(TuningStudy).where(where)
            total = int(connection.scalar(counted) or 0)
            rows = connection.execute(
                _select().where(where).order_by(TuningStudy.id.desc()).offset(offset).limit(limit)
            ).all()
        return [_record(row) for row in rows], total

    def delete_study(self, study_id: int) -> None:
        """Delete a study with its trial runs' rows (their folders stay)."""
        with self._begin() as connection:
            connection.execute(delete(TuningStudy).where(TuningStudy.id == study_id))

    def list_trial_runs(self, study_id: int) -> list[TrialRunRecord]:
        """The study's trial runs, by trial number (a re-queued trial keeps its run)."""
        with self._read() as connection:
            rows = connection.execute(trial_runs(study_id)).all()
        return [TrialRunRecord(*row) for row in rows]

    def request_study_cancel(self, study_id: int, *, project: str | None = None) -> StudyRecord:
        """Mark the study as asked to stop (its advancer then cancels its trials).

        Raises
        ------
        ConflictError
            If the study already ended.
        """
        study = self.get_study(study_id, project=project)
        if study.status in STUDY_FINISHED:
            raise ConflictError(
                f"study {study_id} already ended as {study.status}; nothing to cancel"
            )
        with self._begin() as connection:
            connection.execute(
                update(TuningStudy)
                .where(TuningStudy.id == study_id, TuningStudy.cancel_requested_at.is_(None))
                .values(cancel_requested_at=time.time())
            )
        return self.get_study(study_id)

    def stalled_studies(self) -> list[int]:
        """Ids of running studies with no trial queued or running: a study whose advance was
        interrupted (a worker died between a trial's end and the next ask) waits here."""
        active = exists().where(
            Experiment.study_id == TuningStudy.id, Experiment.status.in_(ACTIVE)
        )
        query = select(TuningStudy.id).where(TuningStudy.status == STUDY_RUNNING, ~active)
        with self._read() as connection:
            return list(connection.scalars(query))

    @contextmanager
    def lock_study(self, study_id: int) -> Iterator[StudyLock]:
        """Hold the study against every other advancer, in any process, until the block ends.

        PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` of the study's row (trial runs inserted
        meanwhile only take a key-share lock on it, which this allows). SQLite: an exclusive
        ``flock`` on a file beside the database, since the write transaction cannot be the
        lock there: Optuna writes its tables through connections of its own meanwhile.

        Raises
        ------
        NotFoundError
            If the study does not exist.
        """
        if self.dialect == "postgresql":
            with self._begin() as connection:
                row = connection.execute(
                    _select().where(TuningStudy.id == study_id).with_for_update(key_share=True)
                ).first()
                if row is None:
                    raise self.not_found(f"study {study_id}")
                yield StudyLock(self, _record(row), connection)
            return
        with _file_lock(self.url):
            yield StudyLock(self, self.get_study(study_id), None)


def optuna_storage(url: str, *, create_tables: bool = True) -> optuna.storages.RDBStorage:
    """Optuna's storage in the store's database at ``url``, its tables created if missing.

    Optuna reads its schema version from ``alembic_version``, which holds the store's own
    revision, so its check is skipped (its tables are versioned by its ``version_info``).
    On SQLite its connections get the store's settings: WAL, a busy time-out, and
    transactions that take the write lock when they begin (a read-then-write transaction
    that another writer overtook fails at once otherwise, and metrics are written all the
    time).
    """
    import optuna  # a worker that runs no trial never needs it: some 0.15 s of each start

    url = normalise_url(url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    options: dict[str, Any] = (
        {"connect_args": SQLITE_CONNECT_ARGS} if sqlite else {"pool_pre_ping": True}
    )
    storage = optuna.storages.RDBStorage(
        url,
        engine_kwargs=options,
        skip_compatibility_check=True,
        skip_table_creation=not create_tables,
    )
    if sqlite:
        event.listen(storage.engine, "connect", engines._sqlite_connect)
        event.listen(storage.engine, "begin", engines._sqlite_begin)
        storage.engine.dispose()  # the connections opened so far lack those settings
    return storage


@contextmanager
def _file_lock(url: str) -> Iterator[None]:
    database = make_url(url).database
    if not database or database == ":memory:":
        with _memory_lock:
            yield
        return
    path = Path(database).expanduser()
    with open(path.with_name(path.name + ".studies.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _select() -> Any:
    columns = [c for c in TuningStudy.__mapper__.columns if c.key != "project_id"]
    return select(*columns, Project.name.label("project_name")).join(
        Project, Project.id == TuningStudy.project_id
    )


def _find(connection: Connection, study_id: int, project: str | None) -> StudyRecord | None:
    query = _select().where(TuningStudy.id == study_id)
    if project is not None:
        query = query.where(Project.name == project)
    row = connection.execute(query).first()
    return None if row is None else _record(row)


def _record(row: Row[Any]) -> StudyRecord:
    fields = {k: v for k, v in row._mapping.items() if k != "project_name"}
    return StudyRecord(project=row.project_name, **fields)
