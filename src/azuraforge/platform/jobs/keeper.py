"""Keeping a run that no worker executes alive from the process that writes it
(``azuraforge run``'s recording).

A worker keeps its job's lease from the parent of the job's process (:mod:`runner`); a run
written from outside has no lease and no such parent, so a thread sends its heartbeat (each
keeps the run alive its idle limit more) and relays the cancel requests made through the
API to the run context.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from azuraforge.errors import ConflictError
from azuraforge.platform.jobs.context import WriterContext
from azuraforge.platform.store import is_unavailable

_log = logging.getLogger(__name__)


class Heartbeat:
    """Calls ``beat`` (a writer's heartbeat: whether someone asked the run to stop) every
    ``interval`` seconds while the ``with`` block runs, and cancels ``ctx`` when someone asked,
    or marks it lost (``ctx.lease_lost``) when the run takes no more writes (it ended, or was
    lost, elsewhere). A store or API out of reach is warned about and tried again."""

    def __init__(self, ctx: WriterContext, beat: Callable[[], bool], interval: float) -> None:
        self.ctx, self.beat, self.interval = ctx, beat, interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                cancel = self.beat()
            except ConflictError as e:
                _log.warning("%s; stopping the run", e)
                self.ctx.lease_lost = True
                return
            except Exception as e:
                if not is_unavailable(e):
                    raise
                _log.warning("the run's heartbeat was not sent: %s", e)
                continue
            if cancel:
                self.ctx.cancel()
