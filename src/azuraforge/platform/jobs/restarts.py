"""Long jobs kept going: restarts at a step boundary, and crashes restarted with a backoff.

A job whose kind has a :class:`~azuraforge.platform.jobs.kinds.RestartPolicy` is watched by
its worker (:class:`Watchdog`): past its memory limit or its scheduled time the worker sends
:data:`RESTART_SIGNAL`, the job stops at its next step boundary with its checkpoint saved,
its process exits saying it handed the job back, and the worker queues it again
(:func:`restart_or_give_up`). A crash (its process died, or it failed with an error that is not the
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
from azuraforge.platform.jobs.queueing import submit_again
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Lease, Store
from azuraforge.platform.store.states import FAILED, QUEUED

_log = logging.getLogger(__name__)
RESTART_SIGNAL = signal.SIGRTMIN + 1
"""What a worker sends its job's process to have it stop at its next step boundary."""


@dataclass(frozen=True)
class Restart:
    """Why a job is restarted: ``reason`` (``memory``, ``schedule``) and ``detail``."""

    reason: str
    detail: str


def private_bytes(pid: int) -> int | None:
    """The memory process ``pid`` holds of its own, in bytes: its private pages (Linux
    ``/proc/<pid>/smaps_rollup``), not those it still shares with the process it was forked
    from; ``None`` when it cannot be read (the process ended, or no such file)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            kib = sum(int(line.split()[1]) for line in rollup if line.startswith("Private_"))
    except (OSError, IndexError, ValueError):
        return None
    return kib * 1024


class Watchdog:
    """Decides when the job in process ``pid`` is to be restarted under ``policy``, and how
    long it has to reach its step boundary once asked."""

    def __init__(self, policy: RestartPolicy, pid: int) -> None:
        self.policy, self.pid = policy, pid
        self.started = time.monotonic()
        self.asked: Restart | None = None
        self._asked_at = 0.0

    def check(self) -> None:
        """Send the job :data:`RESTART_SIGNAL` when a restart is due (:attr:`asked` says
        why); once asked, never again."""
        if self.asked is not None:
            return
        due = self._due()
        if due is not None:
            self.asked, self._asked_at = due, time.monotonic()
            os.kill(self.pid, RESTART_SIGNAL)

    def _due(self) -> Restart | None:
        policy = self.policy
        if policy.memory_limit is not None:
            used = private_bytes(self.pid)
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


def after_crash(
    store: Store, lease: Lease, settings: Settings, policy: RestartPolicy, detail: str
) -> str:
    """Restart a job that crashed (``detail`` says how) after its backoff, or fail it when
    this is one crash too many in a row; returns its new status."""
    return restart_or_give_up(store, lease, settings, policy, "crash", detail)


def restart_or_give_up(
    store: Store, lease: Lease, settings: Settings, policy: RestartPolicy, reason: str,
    detail: str,
) -> str:  # fmt: skip
    """Restart the leased job for ``reason`` (after the backoff its crashes in a row call
    for), or end it ``failed`` when this restart is one more in a row than ``policy``
    allows; ``cancelled`` instead when someone asked. Returns its new status."""
    record = store.get_experiment(lease.experiment_id)
    uptime = store.find_uptime(lease.experiment_id)  # the database's clock, as started_at's
    in_a_row = 0
    if policy.counts(reason, uptime):
        in_a_row = policy.crashes_in_a_row(record.restart_history) + 1
    try:
        if in_a_row > policy.max_restarts:
            error = gave_up(policy, in_a_row, detail)
            _log.error("experiment %d: %s", lease.experiment_id, error)
            store.finish(lease, FAILED, error=error)
            return FAILED
        delay = policy.delay(max(in_a_row, 1)) if reason == "crash" else 0.0
        status = store.restart(lease, reason, detail, delay=delay)
    except LeaseLostError as e:
        _log.warning("%s", e)
        return store.get_experiment(lease.experiment_id).status
    if status == QUEUED:
        _log.warning("experiment %d restarts in %g s: %s", lease.experiment_id, delay, detail)
        submit_again(settings, lease.experiment_id, delay)
    return status


def gave_up(policy: RestartPolicy, in_a_row: int, detail: str) -> str:
    """The error of a job failed after ``in_a_row`` crashes in a row, the last as ``detail``.

    >>> gave_up(RestartPolicy(max_restarts=2, stable_after=60), 3, "exit code 1")
    'crashed 3 times in a row within 60 s of its start (its process died or failed, its worker was lost, or it went over its memory limit); its restart policy restarts 2 in a row at most. The last: exit code 1. Its restart_history lists the others'
    """  # noqa: E501
    return (
        f"crashed {in_a_row} times in a row within {policy.stable_after:g} s of its start (its "
        "process died or failed, its worker was lost, or it went over its memory limit); its "
        f"restart policy restarts {policy.max_restarts} in a row at most. The last: {detail}. "
        "Its restart_history lists the others"
    )
