"""The client-side spool of a tracked run: the batches it could not send yet (the server
away, or slow to answer), kept on disk in the order made, one JSON file each, and the files
it was asked to keep (copied at once, so that the training script may change or delete its
own). A batch leaves the spool once the server took it; its id (``batch_id``) makes sending
it again safe when an answer was lost.

A spool also says whose it is: ``run.meta`` (JSON: where the run is written, its id and
credential once made, what made it, how it was to end), readable by its owner alone, and
``.lock``, locked (``flock``) by the process writing the run for as long as it lives. The
lock goes with the process, a killed one too: a spool whose lock can be taken is a
leftover, which :mod:`~azuraforge.track.leftovers` sends."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOME_VARIABLE = "AZURAFORGE_HOME"
"""The client's folder (``~/.azuraforge`` when unset): spools live in its ``spool``."""
SPOOL_FOLDER = "spool"
META, LOCK = "run.meta", ".lock"
"""The spool's own two files, beside its batches."""

try:
    import fcntl
except ImportError:  # no flock (Windows): a spool is never taken for a leftover
    fcntl = None  # type: ignore[assignment]

Point = tuple[str, int, float, float]
"""(key, step, value, time) of one metric value."""
Line = tuple[float, str, str]
"""(time, level, message) of one log line."""


@dataclass
class Batch:
    """What the run sends at once, under its own id: metric points, log lines and the
    run's progress (done, total, message), one file to upload (``file``: its copy in the
    spool, ``name``: its path inside the run's files), tags to set, or the run's notes."""

    batch_id: str
    points: list[Point] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    file: str | None = None
    name: str | None = None
    tags: dict[str, str] | None = None
    notes: str | None = None
    progress: tuple[int, int, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "points": self.points, "lines": self.lines,
                "file": self.file, "name": self.name, "tags": self.tags,
                "notes": self.notes, "progress": self.progress}  # fmt: skip

    @classmethod
    def of(cls, found: dict[str, Any]) -> Batch:
        return cls(
            str(found["batch_id"]),
            [(str(k), int(s), float(v), float(t)) for k, s, v, t in found["points"]],
            [(float(t), str(level), str(m)) for t, level, m in found["lines"]],
            found.get("file"),
            found.get("name"),
            found.get("tags"),
            found.get("notes"),
            None if found.get("progress") is None else _progress(found["progress"]),
        )


def _progress(found: list[Any]) -> tuple[int, int, str]:
    done, total, message = found
    return int(done), int(total), str(message)


def _locked(path: Path, *, wait: bool) -> int:
    """A descriptor of ``path`` (made if missing) holding its exclusive lock; ``OSError``
    when another process holds it and ``wait`` is false."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if fcntl is not None:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            os.close(descriptor)
            raise
    return descriptor


def _write_private(path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` as JSON to ``path`` whole or not at all, readable by its owner alone
    (it may hold a run's credential)."""
    made = path.with_name(path.name + ".part")
    descriptor = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(meta, handle)
    os.replace(made, path)


def spool_root() -> Path:
    """``$AZURAFORGE_HOME/spool`` (``~/.azuraforge/spool``)."""
    return Path(os.environ.get(HOME_VARIABLE) or "~/.azuraforge").expanduser() / SPOOL_FOLDER


class Spool:
    """The folder ``root/<run>`` of one tracked run (``run``: the client's own id of it):
    batches as ``<sequence>.json``, kept files in ``files/``. Used by one thread at a time
    (the run's sender), but for :meth:`keep_file`."""

    def __init__(self, root: Path, run: str) -> None:
        self.folder = root / run
        self._sequence = 0
        self._lock: int | None = None

    def open(self, meta: dict[str, Any]) -> Spool:
        """Make the folder, locked by this process (for its life, or until :meth:`close`),
        with ``meta`` as its ``run.meta``: made under a hidden name and renamed, so that no
        other process ever sees it unlocked."""
        made = self.folder.with_name(f".{self.folder.name}.new")
        made.mkdir(parents=True)
        self._lock = _locked(made / LOCK, wait=False)
        _write_private(made / META, meta)
        os.replace(made, self.folder)
        return self

    def take(self) -> bool:
        """Lock the folder of a spool of another process; whether that process is gone (it
        held the lock while it lived) and the spool is now this one's to send."""
        if fcntl is None or not (self.folder / META).is_file():
            return False
        try:
            self._lock = _locked(self.folder / LOCK, wait=False)
        except OSError:
            return False
        if not self.folder.is_dir():  # sent and removed by another meanwhile
            self.close()
            return False
        return True

    def meta(self) -> dict[str, Any]:
        """What ``run.meta`` says (empty when it cannot be read)."""
        try:
            found = json.loads((self.folder / META).read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace ``run.meta`` (whole or not at all); nothing when the folder is gone."""
        with contextlib.suppress(OSError):
            _write_private(self.folder / META, meta)

    def close(self) -> None:
        """Let the lock go (the spool, if still there, is then a leftover)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __len__(self) -> int:
        return len(self._batch_files())

    def put(self, batch: Batch) -> None:
        """Keep ``batch`` after those already here (written whole or not at all)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        path = self.folder / f"{self._sequence:012d}.json"
        made = path.with_suffix(".part")
        made.write_text(json.dumps(batch.to_json()))
        os.replace(made, path)

    def each(self) -> Iterator[tuple[Path, Batch]]:
        """The batches kept, oldest first, with their files (remove one once it is sent)."""
        for path in self._batch_files():
            yield path, Batch.of(json.loads(path.read_text()))

    def keep_file(self, source: str | os.PathLike[str], number: int) -> str:
        """Copy the local file ``source`` into the spool (the ``number``-th kept); where."""
        kept = self.folder / "files" / f"{number:06d}-{Path(source).name}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, kept)
        return str(kept)

    def remove(self) -> None:
        """Remove the spool's folder once nothing in it is waiting."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _batch_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.json"))
