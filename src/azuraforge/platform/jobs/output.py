"""What a run's process prints becomes the run's log lines: its stdout and stderr, C-level
writes included (the descriptors themselves are redirected), as lines of level ``STDOUT``
and ``STDERR`` beside those the run logs.

Everything printed is also copied to where it went before (the worker's own output), and what
the worker's logging handlers write stays the worker's: a run's log records reach the run's
log lines once, through its context. A carriage return starts the line again, as on a
terminal, so a progress bar leaves its last state, not each redraw.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from azuraforge.platform.jobs.threads import KeptThreads

STDOUT, STDERR = "STDOUT", "STDERR"
OUTPUT_LEVELS = (STDOUT, STDERR)
"""The log levels of printed lines (the run's own log lines have the logging levels)."""
LONGEST_LINE = 10_000
"""Characters of a line kept whole; longer output without a newline is cut into lines."""
DRAIN_SECONDS = 1.0
"""How long :meth:`OutputCapture.stop` waits for the last output (a process the run started
and left behind may hold the pipes open)."""

_READERS = KeptThreads("output-capture")
Sink = Callable[[str, str], None]
"""Called with ``(level, line)`` for each printed line."""


class _Lines:
    """Turns a stream's bytes into lines: UTF-8 (bad bytes replaced), split at newlines, a
    carriage return starting the line again, a line over :data:`LONGEST_LINE` cut."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(data)
        *complete, self._pending = text.split("\n")
        self._pending = self._pending.rsplit("\r", 1)[-1]
        lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in complete]
        while len(self._pending) > LONGEST_LINE:
            lines.append(self._pending[:LONGEST_LINE])
            self._pending = self._pending[LONGEST_LINE:]
        return lines

    def rest(self) -> list[str]:
        """The unfinished last line, if any (the stream ended without a newline)."""
        text, self._pending = self._pending + self._decoder.decode(b"", final=True), ""
        return [text] if text else []


class OutputCapture:
    """Redirects descriptors 1 and 2 of this process into pipes that a thread reads: each
    line printed goes to the sink (:meth:`attach`; lines before it are kept until then) and
    the bytes to the descriptors' former targets.

    Start it in a process of its own (the run's forked child): it replaces ``sys.stdout``
    and ``sys.stderr`` with line-buffered files on the new descriptors (so Python's prints
    arrive at once, whatever a host such as Celery had put there) until :meth:`stop`.
    """

    def __init__(self) -> None:
        self._sink: Sink | None = None
        self._early: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._saved: dict[int, int] = {}
        self._reading: dict[int, tuple[str, _Lines, int]] = {}
        self._streams: tuple[IO[str], IO[str]] | None = None
        self._replaced: tuple[IO[str], IO[str]] | None = None
        self._handlers: list[tuple[logging.StreamHandler[Any], Any, IO[str]]] = []
        self._read_all: threading.Event | None = None
        """Set once the reader saw both pipes closed (all the job's output read)."""

    def start(self) -> None:
        """Redirect descriptors 1 and 2 and start reading them."""
        self._flush_python_streams()
        # Every descriptor first: when one cannot be had, nothing is redirected yet.
        pipes = {fd: os.pipe() for fd in (1, 2)}
        self._saved = {fd: os.dup(fd) for fd in pipes}
        for (fd, (read_end, write_end)), level in zip(pipes.items(), OUTPUT_LEVELS, strict=True):
            os.dup2(write_end, fd)
            os.close(write_end)
            self._reading[read_end] = (level, _Lines(), self._saved[fd])
        self._keep_worker_logging()
        self._streams = (sys.stdout, sys.stderr)
        self._replaced = sys.stdout, sys.stderr = _line_buffered(1), _line_buffered(2)
        self._read_all = _READERS.run(self._read)

    def attach(self, sink: Sink) -> None:
        """Send the lines printed so far, then each next one, to ``sink``."""
        with self._lock:
            self._sink = sink
            early, self._early = self._early, []
        for level, line in early:
            sink(level, line)

    def stop(self) -> bool:
        """Put the descriptors back and pass on the last lines (waiting up to
        :data:`DRAIN_SECONDS` for them: a process the run left behind may hold the pipes
        open, and what it prints later is not the run's); whether every line was read (not
        while such a process holds them).

        The files that stood in for ``sys.stdout`` and ``sys.stderr`` stay open: a handler
        that took one meanwhile (``logging.basicConfig()``) writes to the former targets
        after this."""
        if self._streams is None or self._replaced is None:
            return self._read_all is None or self._read_all.is_set()
        self._flush_python_streams()
        self._flush_c_streams()
        sys.stdout, sys.stderr = self._streams
        self._streams = self._replaced = None
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes this process's write end of the pipe
        drained = self._read_all is not None and self._read_all.wait(DRAIN_SECONDS)
        for handler, original, former in self._handlers:
            handler.setStream(original)
            former.close()
        if drained:
            for read_end, (level, lines, _) in self._reading.items():
                self._emit(level, lines.rest())
                os.close(read_end)
        for saved in self._saved.values():
            os.close(saved)
        return drained

    def _keep_worker_logging(self) -> None:
        """Point the logging handlers that write to descriptor 1 or 2 at their former
        targets: the worker's log stays the worker's (and a run's records are not stored
        twice)."""
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for logger in loggers:
            for handler in getattr(logger, "handlers", ()):
                fd = _descriptor(handler)
                if isinstance(handler, logging.StreamHandler) and fd in self._saved:
                    former = os.fdopen(os.dup(self._saved[fd]), "w", buffering=1)
                    self._handlers.append((handler, handler.stream, former))
                    handler.setStream(former)

    @staticmethod
    def _flush_python_streams() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()

    @staticmethod
    def _flush_c_streams() -> None:
        """Write out what C libraries printed through stdio: into a pipe it is buffered, and
        the run's process ends with ``os._exit``, which would drop it."""
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).fflush(None)

    def _read(self) -> None:
        with contextlib.suppress(OSError):  # a descriptor closed under it: the process ends
            self._read_until_closed()

    def _read_until_closed(self) -> None:
        poller = select.poll()
        for read_end in self._reading:
            poller.register(read_end, select.POLLIN)
        open_ends = set(self._reading)
        while open_ends:
            for read_end, _ in poller.poll():
                level, lines, former = self._reading[read_end]
                data = os.read(read_end, 65536)
                if not data:
                    poller.unregister(read_end)
                    open_ends.discard(read_end)
                    continue
                with contextlib.suppress(OSError):
                    os.write(former, data)
                self._emit(level, lines.feed(data))

    def _emit(self, level: str, lines: list[str]) -> None:
        with self._lock:
            if self._sink is None:
                self._early += [(level, line) for line in lines]
                return
            sink = self._sink
        for line in lines:
            sink(level, line)


def _descriptor(handler: logging.Handler) -> int | None:
    stream = getattr(handler, "stream", None)
    try:
        return int(stream.fileno()) if stream is not None else None
    except (AttributeError, OSError, ValueError):
        return None


def _line_buffered(fd: int) -> IO[str]:
    return open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
