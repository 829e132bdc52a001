"""The guardian: the code of each code answer (intents :data:`CHECKED`;
:func:`~azuraforge.assist.promotion.code_of`) run behind the sandbox's boundary
(:mod:`azuraforge.assist.boundary`), for syntax and a clean run (a chat message brings no
tests) that reads no name it never defines (:func:`~azuraforge.assist.names.undefined_names`:
a function nobody calls is never run, yet fails once called), after the turn is kept, on a
worker thread of its own so the answer never waits for it. Its finding is the turn's check
(``passed``: it ran clean; ``error``, ``timeout`` or ``memory`` with the sandbox's message, or
``error`` naming the undefined name and its line) and a verdict the backend selector counts,
as a user's. Where the boundary cannot run (no ``bwrap``, no namespaces), it runs no code:
each code turn's check is ``refused`` with the reason, and the log says it once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from azuraforge.assist.boundary import Bubblewrap
from azuraforge.assist.names import undefined_names
from azuraforge.assist.promotion import code_of
from azuraforge.assist.sandbox import Limits, run_tests
from azuraforge.errors import BoundaryUnavailableError

_log = logging.getLogger(__name__)
CHECKED = ("code_python", "code_debug")
"""The intents whose answers hold code to run."""
LIMITS = Limits(cpu_seconds=5, wall_seconds=15.0, memory_mb=512, processes=32)
"""What an answer's code may use."""
REFUSED = "refused"


@dataclass(frozen=True)
class Check:
    """What running an answer's code found."""

    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _logged(future: Future[None]) -> None:
    error = future.exception() if not future.cancelled() else None
    if error is not None:  # nobody waits for a check: its failure goes to the log
        _log.error("guardian: a check failed: %s: %s", type(error).__name__, error)


class Guardian:
    """Checks answers' code on ``workers`` threads; ``boundary`` is made ready on first use."""

    def __init__(self, workers: int = 1, boundary: Bubblewrap | None = None) -> None:
        self._boundary = boundary or Bubblewrap()
        self._ready: bool | None = None
        self._why = ""
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="guardian")

    def submit(self, answer: str, then: Callable[[Check], None]) -> Future[None] | None:
        """Check the code of ``answer`` in the background, then hand the finding to ``then``
        (none when the answer holds no code: no fenced block, nor Python as a whole)."""
        code = code_of(answer)
        if not code.strip():
            return None
        future = self._pool.submit(lambda: then(self.check(code)))
        future.add_done_callback(_logged)
        return future

    def check(self, code: str) -> Check:
        """Run ``code`` behind the boundary (or say why not)."""
        if not self._boundary_ready():
            return Check(REFUSED, self._why)
        result = run_tests(code, limits=LIMITS, boundary=self._boundary)
        if not result.passed:
            return Check(result.status, result.message)
        undefined = undefined_names(code)
        if undefined:
            name, line = undefined[0]
            return Check("error", f"the code uses a name it never defines: {name!r} (line {line})")
        return Check("passed", "ran clean")

    def close(self) -> None:
        """Finish the checks under way; take no more."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _boundary_ready(self) -> bool:
        with self._lock:
            if self._ready is None:
                try:
                    self._boundary.ready()
                    self._ready = True
                except BoundaryUnavailableError as e:
                    self._ready, self._why = False, f"no code was run: {e}"
                    _log.warning("guardian: %s", self._why)
            return self._ready
