"""The spools that tracked processes left behind: a script killed (``kill -9``, out of
memory, the machine stopped) while the server was away, or one that ended while the server
did not answer, leaves its batches in ``$AZURAFORGE_HOME/spool/<run>/``. The next
:func:`~azuraforge.track.start_run` of the same home sends them in the background
(:func:`send_leftovers_in_background`), and ``azuraforge track flush`` sends them at once
(:func:`send_leftovers`), each spool once, its batches in the order made.

A spool is a leftover when the process that wrote it is gone: it held the lock of the
spool's folder while it lived (:meth:`~azuraforge.track.spool.Spool.take`), so a running
script's spool is never touched. Each batch keeps its id, so a batch the server took before
the process died is written once. The run is reached again with what its ``run.meta``
kept: its server and the run's own credential (or the embedded store it was written to);
a run never made (the server away from the start) is made then, with this process's token
for that server. A run whose process meant to end it (the end did not reach the server) is
ended as meant once its batches are in; a killed process's run is left to the server, which
ends it ``lost`` after its idle limit. A run that ended meanwhile (``lost``, say) takes no
late write: the server refuses them all (409, or 401 for a lost run's credential), nothing
of them is written, and the spool is removed, said once.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azuraforge.track.sender import Sender, log
from azuraforge.track.sinks import Sink
from azuraforge.track.spool import LOCK, Spool, spool_root

SENT, REFUSED, AWAY, KEPT = "sent", "refused", "away", "kept"
"""What became of a leftover: all of it sent (and the run ended, if its process meant to);
refused by the server (the run is over: removed); kept for later (the server away), or kept
because this process cannot send it (the reason says why)."""


@dataclass(frozen=True)
class Leftover:
    """What became of one leftover spool."""

    folder: Path
    outcome: str
    run: int | None
    where: str
    batches: int
    """Batches sent (``sent``), refused (``refused``) or still kept (``away``, ``kept``)."""
    reason: str = ""
    ended: str | None = None
    """The status the run was ended with, when its process meant to end it."""

    def describe(self) -> str:
        """One line saying it.

        >>> Leftover(Path("s/ab"), SENT, 42, "http://af:8000", 3, ended="completed").describe()
        'run 42 (http://af:8000): 3 batches sent from s/ab, the run ended completed'
        """
        run = f"run {self.run}" if self.run is not None else "a run not made yet"
        batches = f"{self.batches} batch{'' if self.batches == 1 else 'es'}"
        if self.outcome == SENT:
            end = f", the run ended {self.ended}" if self.ended else ""
            return f"{run} ({self.where}): {batches} sent from {self.folder}{end}"
        if self.outcome == REFUSED:
            return (
                f"{run} ({self.where}) takes no more writes ({self.reason}): {batches} of "
                f"{self.folder} not written; the spool is removed"
            )
        return f"{run} ({self.where}): {batches} kept in {self.folder}: {self.reason}"


def send_leftovers(
    root: Path | None = None, *, skip: str | None = None, tokens: dict[str, str] | None = None
) -> list[Leftover]:
    """Send each spool below ``root`` (default ``$AZURAFORGE_HOME/spool``) whose process is
    gone, but ``skip`` (a spool's folder name), oldest first; what became of each (an empty
    spool is removed unsaid). ``tokens`` are tokens by server URL to make a run never made
    with (else the token the ``azuraforge`` commands find for it)."""
    root = spool_root() if root is None else root
    try:
        folders = [f for f in root.iterdir() if not f.name.startswith(".") and f.name != skip]
    except OSError:
        return []
    done = []
    for folder in sorted(folders, key=_age):
        spool = Spool(root, folder.name)
        if not spool.take():
            continue  # its process lives, or it is not a spool
        try:
            found = _send(spool, tokens or {})
        finally:
            spool.close()
        if found is not None:
            done.append(found)
    return done


_BACKGROUND: list[threading.Thread] = []


def send_leftovers_in_background(skip: str, tokens: dict[str, str]) -> None:
    """:func:`send_leftovers` from a daemon thread (none while one still runs), each saying
    what became of it in the log (``azuraforge.track``)."""
    if _BACKGROUND and _BACKGROUND[-1].is_alive():
        return
    thread = threading.Thread(target=_send_and_say, args=(skip, tokens),
                              name="azuraforge-leftovers", daemon=True)  # fmt: skip
    _BACKGROUND.append(thread)
    thread.start()


def _send_and_say(skip: str, tokens: dict[str, str]) -> None:
    try:
        for leftover in send_leftovers(skip=skip, tokens=tokens):
            level = 20 if leftover.outcome == SENT else 30  # INFO, WARNING
            log.log(level, "tracking: a spool left behind: %s", leftover.describe())
    except Exception:  # never into the training loop
        log.exception("tracking: sending the spools left behind failed")


def _age(folder: Path) -> tuple[int, str]:
    """When the spool was made (its lock's time), then its name: the order to send them."""
    try:
        return (folder / LOCK).stat().st_mtime_ns, folder.name
    except OSError:
        return 0, folder.name


def _send(spool: Spool, tokens: dict[str, str]) -> Leftover | None:
    """Send one spool this process took."""
    meta = spool.meta()
    address: dict[str, Any] = meta.get("sink") or {}
    run, end = meta.get("run"), meta.get("end")
    ended = str(end.get("status", "completed")) if isinstance(end, dict) else None
    where = str(address.get("url") or address.get("store") or "?")
    batches = len(spool)
    if not batches and ended is None:
        spool.remove()  # nothing waited in it
        return None
    sink, reason = _sink(address, run, tokens)
    if sink is None:
        return Leftover(spool.folder, KEPT, run, where, batches, reason)
    sender, complete, left = _drain(spool, sink, meta)
    unsent = _unsent(sender, complete, left, where)
    if unsent is not None:
        return unsent
    spool.remove()
    return Leftover(spool.folder, SENT, sender.run_id, where, batches, ended=ended)


def _drain(spool: Spool, sink: Sink, meta: dict[str, Any]) -> tuple[Sender, bool, int]:
    """Send the spool's batches through ``sink`` (closed after) and end its run as its
    ``meta`` says; the sender, whether all of it went, and the batches left."""
    run = meta.get("run")
    try:
        sender = Sender(deque(), sink, spool, tuple(meta.get("created") or ()), 0.0)
        sender.quiet = True
        if run is not None:
            sender.resume(int(run), float(meta.get("idle_limit") or 0.0))
        complete = sender.drain()
        left = len(spool)
    finally:
        sink.close()
    return sender, complete, left


def _unsent(sender: Sender, complete: bool, left: int, where: str) -> Leftover | None:
    """What became of a drained spool that did not all go (removed when its run takes no
    more); None when it all went."""
    spool = sender.spool
    if sender.refused() and sender.run_id is not None:
        spool.remove()
        return Leftover(spool.folder, REFUSED, sender.run_id, where, left, sender.over or "")
    if sender.refused():
        reason = f"the server did not make its run ({sender.over})"
        return Leftover(spool.folder, KEPT, None, where, left, reason)
    if not complete:
        reason = "the server does not answer; sent later"
        return Leftover(spool.folder, AWAY, sender.run_id, where, left, reason)
    return None


def _sink(
    address: dict[str, Any], run: int | None, tokens: dict[str, str]
) -> tuple[Sink | None, str]:
    """The sink that reaches the leftover's run, or why there is none here."""
    if address.get("kind") == "server":
        from azuraforge.client.environment import token_for
        from azuraforge.track.sinks import ServerSink

        url = str(address["url"])
        token = tokens.get(url) or token_for(url)
        if run is None and token is None:
            return None, f"no token for {url} to make its run (azuraforge login)"
        return ServerSink(url, token, address.get("project")), ""
    if address.get("kind") == "store":
        from azuraforge.track.embedded import StoreSink, configured_store

        here = configured_store()
        if here != address.get("store"):
            return None, f"written to another store than {here} (AZURAFORGE_DATABASE_URL)"
        return StoreSink(), ""
    return None, "its run.meta does not say where its run is written"
