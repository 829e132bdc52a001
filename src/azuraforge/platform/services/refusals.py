"""Refused requests, told and counted without letting a flood write a line or a row each.

A refusal's reason (an unknown, revoked or expired token, a bad signature, a wrong password,
a held-back sign-in...) is never told to the caller; it goes to the server's log and the
audit log here. The first refusal of each kind, actor and address in a summary's time is
logged with its reason at once; the audit log gets one row per kind, actor and address for
each :data:`SUMMARY_SECONDS` with how many there were and their most frequent reasons, as
does the log for those refused more than once. At most :data:`SUMMARY_KEYS` of them a
summary: the others share one row a kind (actor ``*``, address ``*``), so a flood from any
number of addresses writes at most :data:`SUMMARY_KEYS` rows and lines, and one a kind, a
summary and API process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from typing import NamedTuple

from azuraforge.errors import AzuraForgeError
from azuraforge.platform.store.interfaces import ProjectView

_log = logging.getLogger(__name__)
SUMMARY_SECONDS = 60.0
"""How long refusals are counted before the audit log gets their summary."""
SUMMARY_KEYS = 100
"""The most kinds, actors and addresses a summary tells apart."""
KEPT_REASONS = 20
"""The most reasons counted apart for one kind, actor and address."""
SHOWN_REASONS = 3
"""The most frequent reasons a summary names."""
OTHERS = "*"
"""The actor and address of the refusals past :data:`SUMMARY_KEYS`."""
NOBODY = "-"
"""The actor of a refusal that names nobody (a token, a cookie, a link)."""


class _Key(NamedTuple):
    action: str
    actor: str
    address: str

    def __str__(self) -> str:
        of = "" if self.actor == NOBODY else f" of {self.actor!r}"
        return f"{self.action}{of} from {self.address}"


class Refusals:
    """An API process's refusals, summed into the audit log by :meth:`flush`: every
    :data:`SUMMARY_SECONDS` while :meth:`summarise` runs (the API's lifespan), and once
    more as the API stops. Safe from several threads."""

    def __init__(self, store: ProjectView, seconds: float = SUMMARY_SECONDS) -> None:
        self.store, self.seconds = store, seconds
        self._counts: dict[_Key, Counter[str]] = {}
        self._lock = threading.Lock()

    def record(self, action: str, actor: str, address: str, reason: str) -> None:
        """Count a refusal of kind ``action`` (``login.failed``, ``token.refused``...) of
        ``actor`` (the name tried; empty: :data:`NOBODY`) from ``address``, for ``reason``."""
        key = _Key(action, actor or NOBODY, address)
        with self._lock:
            if key not in self._counts and len(self._counts) >= SUMMARY_KEYS:
                key = _Key(action, OTHERS, OTHERS)
            first = key not in self._counts
            reasons = self._counts.setdefault(key, Counter())
            if reason not in reasons and len(reasons) >= KEPT_REASONS:
                reason = "other reasons"
            reasons[reason] += 1
        if first:
            _log.warning("refused %s: %s", key, reason)

    def flush(self) -> None:
        """Write the summary of the refusals counted so far (one audit row per kind, actor
        and address) and start counting anew."""
        with self._lock:
            counts, self._counts = self._counts, {}
        for key, reasons in counts.items():
            told = summary(reasons, self.seconds)
            if reasons.total() > 1:
                _log.warning("refused %s %s", key, told)
            self.store.audit(key.actor, key.action, told, address=key.address)

    async def summarise(self) -> None:
        """:meth:`flush` every :attr:`seconds` (in a worker thread), until cancelled; a
        summary that cannot be written is logged, and the next one tried."""
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await asyncio.to_thread(self.flush)
            except AzuraForgeError as e:  # the store unreachable: the counts are lost
                _log.warning("the summary of refused requests was not written: %s", e)


def summary(reasons: Counter[str], seconds: float) -> str:
    """How many refusals in how long, and their most frequent reasons.

    >>> summary(Counter({"token 1a2b: revoked": 40, "token 9f8e: expired": 2}), 60.0)
    '42 times within 60 s: token 1a2b: revoked (40), token 9f8e: expired (2)'
    """
    shown = ", ".join(f"{reason} ({n})" for reason, n in reasons.most_common(SHOWN_REASONS))
    others = len(reasons) - SHOWN_REASONS
    more = f", {others} other reasons" if others > 0 else ""
    times = "once" if reasons.total() == 1 else f"{reasons.total()} times"
    return f"{times} within {seconds:.0f} s: {shown}{more}"
