"""Long jobs kept going: restarts at a step boundary, and crashes restarted with a backoff.

A job whose kind has a :class:`~azuraforge.platform.jobs.kinds.RestartPolicy` is watched by
its worker (:class:`Watchdog`): past its memory limit or its scheduled time the worker sends
:data:`RESTART_SIGNAL`, the job stops at its next step boundary with its checkpoint saved,
its process exits saying it handed the job back, and the worker queues it again
(:func:`hand_back`). A crash (its process died, or it failed with an error that is not the
user's) is restarted after a backoff, until too many in a row fail it, saying why
(:func:`after_crash`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

from azuraforge.errors import LeaseLostError
from azuraforge.platform.jobs.kinds import RestartPolicy
from azuraforge.platform.jobs.transport import submit_again
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Lease, Store
from azuraforge.platform.store.states import FAILED, QUEUED

_log = logging.getLogger(__name__)
RESTART_SIGNAL = signal.SIGRTMIN + 1
"""What a worker sends its job's process to have it stop at its next step boundary."""
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Restart:
    """Why a job is restarted: ``reason`` (``memory``, ``schedule``) and ``detail``."""

    reason: str
    detail: str


def resident_bytes(pid: int) -> int | None:
    """The resident memory of process ``pid`` in bytes (Linux ``/proc``), or ``None`` when
    it cannot be read (the process ended, or no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class Watchdog:
    """Decides when the job in process ``pid`` is to be restarted under ``policy``, and how
    long it has to reach its step boundary once asked."""

    def __init__(self, policy: RestartPolicy, pid: int) -> None:
        self.policy, self.pid = policy, pid
        self.started = time.monotonic()
        self.asked: Restart | None = None
        self._asked_at = 0.0

    def check(self) -> Restart | None:
        """A restart due now (sends the job :data:`RESTART_SIGNAL` and returns why), else
        ``None``; once asked, never again."""
        if self.asked is not None:
            return None
        due = self._due()
        if due is not None:
            self.asked, self._asked_at = due, time.monotonic()
            os.kill(self.pid, RESTART_SIGNAL)
        return due

    def _due(self) -> Restart | None:
        policy = self.policy
        if policy.memory_limit is not None:
            used = resident_bytes(self.pid)
            if used is not None and used > policy.memory_limit:
                return Restart(
                    "memory",
                    f"its process used {_mib(used)} of memory, over its limit of "
                    f"{_mib(policy.memory_limit)}",
                )
        ran = time.monotonic() - self.started
        if policy.restart_every is not None and ran >= policy.restart_every:
            return Restart("schedule", f"a scheduled restart after {ran:.0f} s")
        return None

    def overdue(self) -> str | None:
        """Why the job is killed, when it was asked to restart over ``step_grace`` seconds
        ago and still runs; else ``None``."""
        if self.asked is None or time.monotonic() - self._asked_at < self.policy.step_grace:
            return None
        return (
            f"it did not reach a step boundary within {self.policy.step_grace:g} s of being "
            f"asked to restart ({self.asked.detail}), so it was killed"
        )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def hand_back(store: Store, lease: Lease, settings: Settings, restart: Restart) -> str:
    """Queue again a job that stopped at a step boundary when asked to restart (any worker
    resumes it from its checkpoint); returns its new status."""
    status = _requeue(store, lease, settings, restart.reason, restart.detail, delay=0.0)
    _log.info("experiment %d: restarted (%s)", lease.experiment_id, restart.detail)
    return status


def after_crash(
    store: Store, lease: Lease, settings: Settings, policy: RestartPolicy, detail: str
) -> str:
    """Restart a job that crashed (``detail`` says how) after its backoff, or fail it when
    this is one crash too many in a row; returns its new status."""
    record = store.get_experiment(lease.experiment_id)
    crashes = policy.crashes_in_a_row(record.restart_history) + 1
    if crashes > policy.max_restarts:
        error = gave_up(policy, crashes, detail)
        _log.error("experiment %d: %s", lease.experiment_id, error)
        try:
            store.finish(lease, FAILED, error=error)
        except LeaseLostError as e:
            _log.warning("%s", e)
        return FAILED
    delay = policy.delay(crashes)
    _log.warning("experiment %d crashed (%s); restarting in %g s", lease.experiment_id,
                 detail, delay)  # fmt: skip
    return _requeue(store, lease, settings, "crash", detail, delay=delay)


def gave_up(policy: RestartPolicy, crashes: int, detail: str) -> str:
    """The error of a job failed after ``crashes`` crashes in a row, the last as ``detail``.

    >>> gave_up(RestartPolicy(max_restarts=2, stable_after=60), 3, "exit code 1")
    'crashed 3 times in a row, each within 60 s of its start (restarted 2 times, the most its restart policy allows); the last: exit code 1. Its restart_history lists the others'
    """  # noqa: E501
    return (
        f"crashed {crashes} times in a row, each within {policy.stable_after:g} s of its start "
        f"(restarted {policy.max_restarts} times, the most its restart policy allows); the "
        f"last: {detail}. Its restart_history lists the others"
    )


def _requeue(
    store: Store, lease: Lease, settings: Settings, reason: str, detail: str, delay: float
) -> str:
    try:
        store.restart(lease, reason, detail, delay=delay)
    except LeaseLostError as e:
        _log.warning("%s", e)
        return store.get_experiment(lease.experiment_id).status
    submit_again(settings, lease.experiment_id, delay)
    return QUEUED
