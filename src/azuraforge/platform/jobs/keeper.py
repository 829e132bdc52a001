"""Keeping a lease from inside the process that runs the pipeline (``azuraforge run``).

Workers keep their runs' leases from the parent of the run's process (:mod:`runner`); a run
started from the command line has no such parent, so a thread renews its lease and relays
cancel requests made through the API to the run context.
"""

from __future__ import annotations

import logging
import threading
import time

from azuraforge.errors import LeaseLostError
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import is_unavailable

_log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews ``ctx``'s lease every ``heartbeat_interval`` and cancels ``ctx`` when someone
    asks the run to stop (checked every ``poll_interval``) or the lease is lost."""

    def __init__(self, ctx: StoreContext, settings: Settings) -> None:
        self.ctx, self.settings = ctx, settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        store, lease = self.ctx.store, self.ctx.lease
        next_renewal = time.monotonic() + self.settings.heartbeat_interval
        while not self._stopping.wait(self.settings.poll_interval):
            try:
                if time.monotonic() >= next_renewal:
                    cancel = store.renew(lease, self.settings.lease_ttl)
                    next_renewal = time.monotonic() + self.settings.heartbeat_interval
                else:
                    cancel = store.cancel_requested(lease.experiment_id)
            except LeaseLostError as e:
                _log.warning("%s; stopping the run", e)
                self.ctx.lease_lost = True
                return
            except Exception as e:
                if not is_unavailable(e):
                    raise
                _log.warning("store unreachable, lease not renewed: %s", e)
                continue
            if cancel:
                self.ctx.cancel()
