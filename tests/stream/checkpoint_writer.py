"""A checkpoint writer for the kill test: ``python checkpoint_writer.py FOLDER``.

The process imports NumPy and AzuraForge once, then for each line it reads on stdin forks a
writer that saves checkpoints to FOLDER in a tight loop, after printing ``writing <pid>``. The
test kills that pid with SIGKILL; this process waits for it and prints ``stopped <code>``
(``-9`` for a kill). A fork starts a writer in about a millisecond where a fresh interpreter
takes 0.4 s to import, which lets the test kill a hundred writers within seconds.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from typing import Any

import numpy as np

from azuraforge.stream.checkpoints import CheckpointStore

VALUES = 40_000
"""Float64 values in each state: 320 KB, so a kill often lands while a file is written."""


def state_for(version: int) -> dict[str, Any]:
    """The state saved as ``version``: it holds its version, and data derived from it."""
    data = np.random.default_rng(version).standard_normal(VALUES)
    return {"version": version, "data": data, "counts": {"nan": math.nan, "n": version}}


def write_forever(folder: str) -> None:
    """Save the next version's :func:`state_for` to ``folder`` until killed."""
    store = CheckpointStore(folder, keep_last=3, keep_daily=False)
    print(f"writing {os.getpid()}", flush=True)
    while True:
        version = max(store.versions(), default=0) + 1
        store.save(state_for(version), step=version)


def serve(folder: str) -> None:
    """Fork a writer for each line of stdin; print how each stopped."""
    for _ in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                write_forever(folder)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        print(f"stopped {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve(sys.argv[1])
