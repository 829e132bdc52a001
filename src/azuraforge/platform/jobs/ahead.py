"""What a job's process forked ahead of its job does while it waits for it: it imports the
kind and the pipeline of its worker's last job, as a fork server's zygote has its imports
done (a trivial run spent about a third of its process's time importing its pipeline), and
takes a system-metrics sample as a run's sampler starts with one (:func:`sample_ahead`).

What was imported ahead must be what the job would import: the process is not used for a
job once the plugins declared changed, or a file it imported ahead did
(:meth:`Imported.unchanged`); its worker then forks a fresh process for the job, which
imports what is there now.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint

from azuraforge.apps.registry import declared, get_pipeline
from azuraforge.platform.jobs.kinds import declared_kinds, get_kind
from azuraforge.system_metrics import SystemSampler


@dataclass(frozen=True)
class LastJob:
    """The kind and pipeline of a worker's last job: what its next one most likely runs."""

    kind: str
    pipeline: str


@dataclass(frozen=True)
class Imported:
    """What a process imported ahead: the plugins declared then, and each file it imported
    with its size and last change."""

    declarations: tuple[tuple[EntryPoint, ...], tuple[EntryPoint, ...]]
    files: dict[str, tuple[int, int] | None]

    @classmethod
    def ahead_of(cls, job: LastJob | None) -> Imported:
        """Import ``job``'s kind and pipeline (nothing for ``None``); a plugin that does not
        load is left to the job, which reports it."""
        before, began = set(sys.modules), time.time_ns()
        if job is not None:
            with warnings.catch_warnings(), contextlib.suppress(Exception):
                warnings.simplefilter("ignore")
                get_kind(job.kind)
                get_pipeline(job.pipeline)
        new = set(sys.modules) - before
        files = (getattr(sys.modules.get(name), "__file__", None) for name in new)
        return cls(_declarations(), {path: _stamp_read(path, began) for path in files if path})

    def unchanged(self) -> bool:
        """Whether the plugins declared and the files imported are still those imported."""
        return _declarations() == self.declarations and all(
            _stamp(path) == stamp for path, stamp in self.files.items()
        )


def _declarations() -> tuple[tuple[EntryPoint, ...], tuple[EntryPoint, ...]]:
    return declared(), declared_kinds()


def _stamp(path: str) -> tuple[int, int] | None:
    """A file's size and last change (``None``: gone)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns


_CHANGED = (-1, -1)
"""The stamp of a file that may have changed after the import read it: no file has it."""
_TICK_NS = 20_000_000
"""How far behind the clock a file's last change may be recorded: the kernel keeps it to
its clock tick (a few milliseconds)."""


def _stamp_read(path: str, began: int) -> tuple[int, int] | None:
    """The stamp of ``path`` as the import that began at ``began`` (``time.time_ns()``)
    read it, or :data:`_CHANGED` for a file changed since about then: it may have changed
    after the import read it and before this stamp, which would then pass for the file
    imported (a process forked ahead is then not used, as for a file changed later)."""
    stamp = _stamp(path)
    return _CHANGED if stamp is not None and stamp[1] >= began - _TICK_NS else stamp


def sample_ahead(interval: float) -> None:
    """Start and stop a system-metrics sampler of ``interval`` seconds (none for 0), as each
    run's does, and drop what it sampled: in a process just forked, the first one took 2.8 ms
    on a quiet machine and 15 to 20 ms on a loaded one, the next 1.3 ms (psutil's files
    opened, the memory its thread's locks touch copied from the worker's): the job then pays
    the second's cost, not the first's."""
    if interval > 0:
        with contextlib.suppress(Exception):
            SystemSampler(lambda metrics, step: None, interval).start().stop()
