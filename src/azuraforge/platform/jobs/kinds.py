"""Kinds of job: what the kernel runs, registered like pipelines.

The kernel is one, in this package: the lease, its heartbeat and fencing, cancel, the
reaper, the spool of a run's output. What a job *does* is its kind's: a :class:`JobKind`
subclass published in the entry-point group ``azuraforge.job_kinds`` (name ->
``module:Class``), found and loaded like pipelines
(:class:`~azuraforge.learn.plugins.PluginGroup`). AzuraForge declares its own kinds (``run``,
``trial``, ``prediction``, ``stream``, ``retrain``, ``external``) in its ``pyproject.toml``
exactly as another distribution declares one; each lives with its service, so this package
imports no service.

A kind says how to run one job in the job's own process (:meth:`JobKind.run`), how long a
cancelled job may take to stop (:attr:`JobKind.cancel_grace`), what its worker does once a job
ended (:meth:`JobKind.after`: a trial advances its study) and what each reaper pass does
(:meth:`JobKind.sweep`: studies left with no trial running advance). Whether a job whose lease
was lost is queued again is its row's ``requeue_lost``, which the service that submits it sets.
"""

from __future__ import annotations

import functools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError, PluginError
from azuraforge.learn.plugins import PluginGroup, named_as_declared
from azuraforge.platform.jobs.queueing import make_transport
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.interfaces import JobView
from azuraforge.platform.store.scope import JobStore

if TYPE_CHECKING:
    from azuraforge.platform.jobs.context import StoreContext

KIND_GROUP = "azuraforge.job_kinds"
"""The entry-point group where job kinds are declared."""
T = TypeVar("T")
StoreT_co = TypeVar("StoreT_co", bound=JobView, covariant=True)
"""The store a host holds: the whole store (a worker's, a reaper's), or one project's jobs'
view of it (:meth:`JobHost.seen_from`)."""


class JobHost(Generic[StoreT_co]):
    """What a kind's :meth:`~JobKind.after` and :meth:`~JobKind.sweep` get from the worker or
    reaper that calls them: its store and settings, a transport made on first use, and the
    services a kind keeps between calls (:meth:`keep`).

    One host lives as long as its worker or reaper, so a study left stalled for an hour is
    advanced by one service, not by a new one (and a new broker connection) each pass.
    """

    def __init__(self, store: StoreT_co, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self._transport: Transport | None = None
        self._kept: dict[str, Any] = {}

    @property
    def transport(self) -> Transport:
        """The settings' transport (made on first use: most workers never need it)."""
        if self._transport is None:
            self._transport = make_transport(self.settings)
        return self._transport

    def keep(self, key: str, make: Callable[[], T]) -> T:
        """The object kept under ``key``, made by ``make`` on first use. It must stay usable
        after its ``close()`` (which :meth:`release` calls between a reaper's passes), as a
        pool that connects again when next used does."""
        if key not in self._kept:
            self._kept[key] = make()
        kept: T = self._kept[key]
        return kept

    def release(self) -> None:
        """Close the pooled connections of the store, the transport and what the host keeps
        (each one's ``close``), before a process forks or between a reaper's passes; each
        stays usable and connects again when next used."""
        for held in (self.store, self._transport, *self._kept.values()):
            close = getattr(held, "close", None)
            if close is not None:
                close()

    def seen_from(self: JobHost[Store], project: str) -> JobHost[JobView]:
        """This host as a job of ``project`` sees it, for its kind's :meth:`JobKind.after`:
        the store as the project's jobs see it
        (:class:`~azuraforge.platform.store.scope.JobStore`), the same settings and
        transport, and what it keeps kept apart from what it keeps for other projects."""
        return _ProjectHost(self, project)


class _ProjectHost(JobHost[JobView]):
    """A :class:`JobHost` as a job of one project sees it (:meth:`JobHost.seen_from`)."""

    def __init__(self, host: JobHost[Store], project: str) -> None:
        super().__init__(JobStore(host.store, project), host.settings)
        self.host, self.project = host, project

    @property
    def transport(self) -> Transport:
        return self.host.transport

    def keep(self, key: str, make: Callable[[], T]) -> T:
        return self.host.keep(f"{key} of project {self.project}", make)

    def release(self) -> None:
        self.host.release()


@dataclass(frozen=True)
class RestartPolicy:
    """How the kernel keeps a long job going (the seed's PM2 file: ``autorestart``,
    ``max_memory_restart``, ``cron_restart``), unlike PM2 never killing it mid-step.

    A restart for memory or on schedule asks the job to stop at its next step boundary
    (``ctx.should_stop()`` turns true): it saves its checkpoint
    (:meth:`~azuraforge.platform.jobs.context.StoreContext.save_checkpoint`) and returns; its
    worker hands the lease back and the job is queued again at once, for any worker, which
    resumes it from the checkpoint. A job whose process dies, or that fails with an error
    other than a user's (a bad setting, bad data), is restarted after a backoff that doubles
    each time; one that crashed more than ``max_restarts`` times in a row ends ``failed``
    with the history of its crashes (its row's ``restart_history``), never retried in
    silence. A memory restart within ``stable_after`` seconds of the job's start counts as a
    crash (a limit below what the job needs to start would restart it for ever); a scheduled
    restart, or a job that ran ``stable_after`` seconds, starts the count afresh.

    Raises
    ------
    InvalidParameterError
        For a term out of its range (named, with the value given).
    """

    memory_limit: int | None = None
    """Bytes of memory of the job's process's own (private: not the pages it still shares
    with its worker) past which it is restarted."""
    restart_every: float | None = None
    """Seconds after which a running job is restarted (a scheduled restart)."""
    max_restarts: int = 5
    """Restarts after crashes in a row (each within ``stable_after`` of its start); the
    crash after them fails the job (PM2's ``max_restarts``)."""
    backoff: float = 1.0
    """Seconds before a restart after a crash; doubled at each crash in a row that counts."""
    max_backoff: float = 300.0
    """The longest wait before a restart after a crash."""
    stable_after: float = 60.0
    """A job that ran this long before it crashed starts counting crashes afresh."""
    step_grace: float = 300.0
    """Seconds a job asked to restart may take to reach its step boundary; past them it is
    killed, and that counts as a crash."""

    def __post_init__(self) -> None:
        limits = {"memory_limit": self.memory_limit, "restart_every": self.restart_every}
        limits = {name: value for name, value in limits.items() if value is not None}
        check_non_negative(
            "RestartPolicy", max_restarts=self.max_restarts, backoff=self.backoff,
            max_backoff=self.max_backoff, stable_after=self.stable_after,
            step_grace=self.step_grace, **limits,
        )  # fmt: skip
        for name, value in {**limits, "step_grace": self.step_grace}.items():
            if value == 0:  # a restart at every look, or a kill at once
                raise InvalidParameterError(f"RestartPolicy: {name} must be above 0, got 0")
        if self.max_backoff < self.backoff:
            raise InvalidParameterError(
                f"RestartPolicy: max_backoff ({self.max_backoff!r}) is below backoff "
                f"({self.backoff!r})"
            )

    def counts(self, reason: str, uptime: float | None) -> bool:
        """Whether a restart for ``reason`` after ``uptime`` seconds counts toward
        :attr:`max_restarts`: a crash, a lost worker or a memory restart, each within
        ``stable_after`` of the job's start."""
        return reason in COUNTED and (uptime or 0.0) < self.stable_after

    def crashes_in_a_row(self, history: list[dict[str, Any]] | None) -> int:
        """How many of the newest restarts in ``history`` :meth:`count <counts>`.

        >>> policy = RestartPolicy(stable_after=60)
        >>> policy.crashes_in_a_row([{"reason": "crash", "uptime": 2},
        ...     {"reason": "schedule", "uptime": 9}, {"reason": "memory", "uptime": 1},
        ...     {"reason": "lost", "uptime": 30}])
        2
        """
        count = 0
        for entry in reversed(history or []):
            if not self.counts(entry["reason"], entry.get("uptime")):
                break
            count += 1
        return count

    def delay(self, crashes: int) -> float:
        """Seconds before the restart that follows ``crashes`` crashes in a row.

        >>> [RestartPolicy(backoff=1, max_backoff=5).delay(n) for n in (1, 2, 3, 4)]
        [1.0, 2.0, 4.0, 5.0]
        """
        return float(min(self.backoff * 2 ** (crashes - 1), self.max_backoff))


COUNTED = ("crash", "lost", "memory")
"""The restarts that count toward :attr:`RestartPolicy.max_restarts` when soon after a start:
a job's process that died or failed, a job whose worker stopped renewing its lease, a job
over its memory limit."""


class JobKind(ABC):
    """One kind of job. Subclass it, set :attr:`name`, and declare it in the entry-point
    group ``azuraforge.job_kinds`` under that name:

    .. code-block:: toml

        [project.entry-points."azuraforge.job_kinds"]
        retrain = "mypackage.jobs:Retrain"

    A service queues a job of the kind as every job is queued
    (``enqueue(store, transport, NewJob(pipeline, config, kind="retrain", ...))``,
    :func:`~azuraforge.platform.jobs.queueing.enqueue`); a worker claims it and runs
    :meth:`run` in a process of its own, under the lease, like every job, its row (``record``:
    its project, submitter and context too) in hand.

    Where each method runs: :meth:`run` in the job's process, forked from its worker;
    :meth:`after` in the worker once that process ended; :meth:`sweep` in the reaper's
    pass of the one process holding the reaper's duty (:mod:`~azuraforge.platform.jobs.duties`);
    a holder cut off mid-pass may overlap its successor, so a sweep must tolerate it. A new
    instance is made for each call: keep state in the store, or in the host
    (:meth:`JobHost.keep`), never on ``self``.
    """

    name: ClassVar[str]
    """The kind's name: the one it is declared under, and stored in its jobs' rows."""
    cancel_grace: ClassVar[float | None] = None
    """Seconds a job asked to stop may take before it is killed: ``None`` for the settings'
    ``cancel_grace``; 0 kills it at once (a job with nothing to save)."""

    listed: ClassVar[bool] = False
    """Whether the run list shows this kind's jobs as runs (a pipeline's run, a trial, a
    retrain, an external run: :func:`listed_kinds`); prediction jobs are listed under their
    model, streams as streams."""

    long_lived: ClassVar[bool] = False
    """Whether a job runs until someone stops it (a stream): a pool of local workers runs each
    in a worker process started for it, so it never holds one of the workers that run the
    others (:class:`~azuraforge.platform.jobs.local.LocalWorkerPool`)."""

    restarts: ClassVar[RestartPolicy | None] = None
    """How the kernel keeps this kind's jobs going (:class:`RestartPolicy`); ``None``: a job
    runs once, and its process dying fails it. Create such jobs with ``requeue_lost=True``:
    a job whose worker died or was shut down is then queued again, not ended."""

    def restart_policy(self, record: ExperimentRecord) -> RestartPolicy | None:
        """The restart policy of the job ``record``: :attr:`restarts` unless overridden (a
        kind whose jobs each set their own memory limit reads it from ``record.config``)."""
        return self.restarts

    def process_group(self, record: ExperimentRecord) -> str | None:
        """The group of jobs the job ``record`` may share its process with, one after
        another (a study's trials); ``None`` (the default): a process of its own. A worker
        keeps a group's process for the group's next job, up to the settings'
        ``jobs_per_process``; a job that does not end cleanly (its process died or was
        killed, its lease lost) ends the process, and the next job gets a fresh one. A job
        with a restart policy runs in a process of its own whatever this says (its memory
        limit is its process's)."""
        return None

    @abstractmethod
    def run(
        self, store: JobView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        """Run the job ``record`` in its own process with its context ``ctx`` (progress,
        metrics, logs, files, ``should_stop``); return its final status and result (a JSON
        object). An exception fails the job with its message."""

    def after(self, host: JobHost[JobView], record: ExperimentRecord) -> None:  # noqa: B027
        """Called by the job's worker once the job ended (whatever its status); nothing by
        default. ``record`` is the job's row as the worker claimed it, with the status the
        job ended with: read the row again (``host.store.get_experiment(record.id)``) for
        its result, error and metrics. ``host`` sees the store as the job's project does
        (:meth:`JobHost.seen_from`)."""

    def lost(self, host: JobHost[JobView], record: ExperimentRecord) -> None:  # noqa: B027
        """Called by the reaper once it marked the job ``record`` ``lost`` (its worker
        stopped renewing its lease: none of its code runs after): clean what the job left
        elsewhere than its folder (which the workers of its machine delete); nothing by
        default. ``host`` sees the store as the job's project does."""

    def sweep(self, host: JobHost[Store]) -> None:  # noqa: B027
        """Called at each reaper pass, after lost leases are reaped; nothing by default.
        ``host`` sees the whole store: a sweep is the server's task, across projects."""


_KINDS: PluginGroup[JobKind] = PluginGroup(
    KIND_GROUP, "job kind", JobKind, check=named_as_declared
)


def declared_kinds() -> tuple[EntryPoint, ...]:
    """The entry points of the job kinds' group, read again only when ``sys.path`` or a
    folder on it changed (nothing is imported)."""
    return _KINDS.declared()


def get_kind(name: str) -> JobKind:
    """The job kind declared under ``name``, ready to use.

    Raises
    ------
    NotFoundError
        If no kind has that name (the message lists those installed).
    PluginError
        If the kind is declared but does not load, or two distributions declare the name.
    """
    return _KINDS.get(name)()


def long_lived_kinds() -> list[str]:
    """The names of the kinds whose jobs run until stopped (:attr:`JobKind.long_lived`); none
    when the kinds cannot be read (two distributions declaring one name: warned about, and
    workers then take every job, streams included)."""
    try:
        kinds = job_kinds()
    except PluginError as e:
        warnings.warn(f"the job kinds could not be read ({e}); streams will hold workers",
                      stacklevel=2)  # fmt: skip
        return []
    return sorted(name for name, kind in kinds.items() if kind.long_lived)


@functools.cache
def listed_kinds() -> tuple[str, ...]:
    """The names of the kinds whose jobs the run list shows (:attr:`JobKind.listed`), read
    once per process (the list asks at every page); none when the kinds cannot be read (two
    distributions declaring one name: warned about, and the list then shows every job).
    """
    try:
        kinds = job_kinds()
    except PluginError as e:
        warnings.warn(f"the job kinds could not be read ({e}); the run list shows every job",
                      stacklevel=2)  # fmt: skip
        return ()
    return tuple(sorted(name for name, kind in kinds.items() if kind.listed))


def job_kinds() -> dict[str, JobKind]:
    """Every job kind that loads and can be made, by name (a broken one is warned about
    and left out).

    Raises
    ------
    PluginError
        If two distributions declare the same name.
    """
    kinds: dict[str, JobKind] = {}
    for name, plugin in _KINDS.discover().items():
        if plugin.loaded is None:
            continue
        try:
            kinds[name] = plugin.loaded()
        except Exception as e:  # third-party code: reported, not raised
            warnings.warn(f"job kind {name!r} could not be made: {e!r}", stacklevel=2)
    return kinds
