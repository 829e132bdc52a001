"""The folder where the processes of one command (``azuraforge serve``, an ``azuraforge
worker`` pool) write their metrics' counts, added up by a scrape of any of them
(:mod:`azuraforge.platform.prometheus`). Apart from that module: it must be set before
prometheus-client is imported, which reads it once, at its import."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's variable naming the folder (its multiprocess mode)."""


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """Make this process and those it starts (its API processes, its workers and their jobs)
    add up their metrics: a new folder they all write their counts to, named in the
    environment for the block (call it before importing the rest of the platform), removed
    at its end; the folder. One the environment names already is used as it is (emptied by
    whoever set it)."""
    given = os.environ.get(MULTIPROCESS_VARIABLE)
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="azuraforge-metrics-") as folder:
        os.environ[MULTIPROCESS_VARIABLE] = folder
        try:
            yield folder
        finally:
            del os.environ[MULTIPROCESS_VARIABLE]
