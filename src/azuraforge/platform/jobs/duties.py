"""Duties: what must run on one process of a store at a time (the reaper, the streams'
keeper), whichever processes, on whichever machines, offer to run it.

Each duty has a lease in the store (:meth:`~azuraforge.platform.store.Store.hold_duty`),
taken and renewed by compare and set against the database's clock. Every process offering a
duty asks for it each ``duty_renew_interval``: the holder keeps it ``duty_ttl`` seconds more,
the others wait. A holder that dies (SIGKILL), loses the store, or hangs stops renewing, and
the first process asking after its lease lapsed takes the duty: within ``duty_ttl +
duty_renew_interval`` (6.5 s by default). One that stops cleanly hands it back at once.

A holder acts only while its lease surely runs: for ``duty_ttl - duty_renew_interval`` from
the moment it *sent* its last renewal that succeeded (the database set the expiry after that
moment, ``duty_ttl`` later), by its own monotonic clock. Cut off from the store, it stops
``duty_renew_interval`` before another can take the duty over; no two processes hold one at
once. A step already started when that time passes (one reap, one stream's alerts, one
webhook post) ends as it would: what a duty writes is compare and set in the store as well
(an alert moves only from the state it was read in, a promotion is registered once, a lease
is reaped at its epoch), so a step that outlives its holder's lease changes nothing twice.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from azuraforge.platform.jobs.threads import Periodic
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, is_unavailable

_log = logging.getLogger(__name__)
REAPER = "reaper"
"""The duty of marking runs whose lease expired ``lost`` (or queued again), and of each job
kind's sweep."""
STREAMS = "streams"
"""The duty of the streams' keeper: their alerts, webhooks and champions in the registry."""


class DutyLease:
    """This process's claim on the duty ``name`` of ``store``, as ``holder`` (a name unique
    to the process: ``host:pid:random``). :meth:`hold` takes or renews it; :meth:`held` says
    whether this process may act on it now."""

    def __init__(self, store: Store, name: str, holder: str, settings: Settings) -> None:
        self.store, self.name, self.holder = store, name, holder
        self.ttl, self.renew_interval = settings.duty_ttl, settings.duty_renew_interval
        self.epoch: int | None = None
        """The duty's epoch while this process holds it (raised at each new holder)."""
        self._acts_until = -math.inf

    def hold(self) -> bool:
        """Take the duty, or keep it, in the store now; whether this process holds it. An
        unreachable store is logged: the lease held so far runs out by the clock."""
        sent = time.monotonic()
        try:
            epoch = self.store.hold_duty(self.name, self.holder, self.ttl)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("duty %s: store unreachable, lease not renewed: %s", self.name, e)
            return self.held()
        if epoch != self.epoch:
            self._changed(epoch)
        self._acts_until = sent + self.ttl - self.renew_interval if epoch else -math.inf
        return epoch is not None

    def _changed(self, epoch: int | None) -> None:
        if epoch is None:
            _log.info("duty %s: taken over by another process", self.name)
        else:
            _log.info("duty %s: held by %s (epoch %d)", self.name, self.holder, epoch)
        self.epoch = epoch

    def held(self) -> bool:
        """Whether this process holds the duty and its lease surely runs now."""
        return time.monotonic() < self._acts_until

    def release(self) -> None:
        """Stop acting on the duty and hand its lease back, if this process holds it
        (another process takes it at its next try); an unreachable store lets it lapse."""
        held, self._acts_until, self.epoch = self.epoch is not None, -math.inf, None
        if not held:
            return
        try:
            self.store.release_duty(self.name, self.holder)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("duty %s: not handed back (it lapses): %s", self.name, e)


@dataclass(frozen=True)
class Duty:
    """A task run every ``interval`` seconds by the process holding ``lease``."""

    lease: DutyLease
    interval: float
    task: Callable[[], None]


class Duties:
    """Duties this process offers to run: one thread asks for every duty's lease each
    ``duty_renew_interval`` (at once on :meth:`start`), and each duty's task runs every
    ``interval`` on a thread of its own (:class:`Periodic`) while this process holds it.

    Parameters
    ----------
    settings
        ``duty_renew_interval``: how often the leases are asked for.
    duties
        What is offered.
    """

    def __init__(self, settings: Settings, duties: Sequence[Duty]) -> None:
        self.renew_interval, self.duties = settings.duty_renew_interval, list(duties)
        self._stopping = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="duties", daemon=True)
        self._runs = [
            Periodic(duty.lease.name, duty.interval, _while_held(duty)) for duty in self.duties
        ]

    def start(self) -> None:
        self._renewer.start()
        for run in self._runs:
            run.start()

    def stop(self) -> None:
        """Stop each task after its pass in progress, then hand every lease back."""
        for run in self._runs:
            run.stop()
        self._stopping.set()
        if self._renewer.is_alive():
            self._renewer.join()
        for duty in self.duties:
            duty.lease.release()

    def _renew(self) -> None:
        while True:
            for duty in self.duties:
                try:
                    duty.lease.hold()
                except Exception:  # the next renewal tries again; the lease runs out meanwhile
                    _log.exception("duty %s: its lease could not be renewed", duty.lease.name)
            if self._stopping.wait(self.renew_interval):
                return


def _while_held(duty: Duty) -> Callable[[], None]:
    """``duty``'s task, run only while its lease is held."""

    def task() -> None:
        if duty.lease.held():
            duty.task()

    return task
