"""How a queued run reaches a worker: the :class:`Transport` interface and its local form.

The store is the queue of record on every transport: ``submit`` is called after the run's
row is committed as ``queued``, and a worker runs it only after claiming its lease. A
transport only delivers the news; delivering it twice or late loses nothing (local
workers also poll the store). A Celery worker hears of a run only through its message, so a
``submit`` that cannot send it raises, and the caller withdraws the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from azuraforge.platform.jobs.wake import wake as wake_a_worker


class Transport(ABC):
    """Delivers queued runs to workers.

    Contract (``azuraforge.testing.TransportContract`` checks it on every transport):
    ``submit`` of a queued run leads a worker to claim and run it exactly once, however
    often the message is delivered, or raises :class:`TransportUnavailableError` when the
    message cannot be sent; ``cancel`` of a queued run keeps every worker from starting it
    (the store has already marked it cancelled) and is advisory: workers act on the store's
    cancel request, so ``cancel`` never raises, for a run that already ended or a broker that
    is down (it logs that). Both return quickly.
    """

    name: str
    broker: str | None = None
    """The broker's URL as messages show it (no password); ``None`` without a broker."""

    @abstractmethod
    def submit(self, experiment_id: int, delay: float = 0.0) -> None:
        """Tell the workers that this run is queued, to be run ``delay`` seconds from now
        (its row's ``not_before``: the backoff after a crash)."""

    @abstractmethod
    def cancel(self, experiment_id: int) -> None:
        """Tell the workers that this run was cancelled (its row already says so); best
        effort."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`TransportUnavailableError` unless a message could be sent now."""


class LocalTransport(Transport):
    """Workers on this machine (``azuraforge serve`` or ``azuraforge worker``) poll the store
    every ``poll_interval``; the run's ``queued`` row is the message.

    Parameters
    ----------
    wake
        The wake-up pipe of the workers' home (:mod:`~azuraforge.platform.jobs.wake`): a
        submit also wakes the idle workers at once. None: they find the run at their next
        poll.
    """

    name = "local"

    def __init__(self, wake: Path | None = None) -> None:
        self.wake = wake

    def submit(self, experiment_id: int, delay: float = 0.0) -> None:
        """Wake an idle worker (when a pipe was given); the ``queued`` row is the message
        (workers claim a delayed run at their first poll past its ``not_before``)."""
        if self.wake is not None and delay <= 0:
            wake_a_worker(self.wake)

    def cancel(self, experiment_id: int) -> None:
        """Nothing to send: workers read the cancel request from the store."""

    def check(self) -> None:
        """Nothing to reach: the store is the queue."""
