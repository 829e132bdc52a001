"""The server's secret keys: what signs its browser sessions (:data:`SESSION`) and its alert
webhooks' deliveries (:data:`WEBHOOK`), the same at every process on its store, on any
machine, whatever its home folder.

Where a purpose's keys come from, the first that has them:

1. the settings ``session_key`` / ``webhook_key`` (``AZURAFORGE_SESSION_KEY``...): one key
   of at least :data:`MIN_KEY` characters, or several separated by commas, the first signing
   and the others (previous ones) still verifying;
2. the store (table ``server_keys``): numbered generations, the newest signing, the older ones
   verifying until :meth:`ServerKeys.drop_old` drops them (``azuraforge keys``);
3. made on first use (the API's start: :meth:`ServerKeys.load`), into the store, by compare
   and set (processes starting at once on an empty store keep one key): 32 random bytes as
   hex, or the text of the file an earlier version kept in the home (``jwt.key``,
   ``webhook.key``), so that the sessions and webhook receivers of a server upgraded stay
   good. Nothing is written to the home.

A key is used as its text (the hex digits as they are, not decoded), as the files' were.
There is no default key, and a key is never logged, shown in an error, or in a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ServerKeyRecord, Store, is_unavailable

_log = logging.getLogger(__name__)
SESSION, WEBHOOK = "session", "webhook"
"""The purposes of the server's keys."""
PURPOSES = (SESSION, WEBHOOK)
HOME_FILES = {SESSION: "jwt.key", WEBHOOK: "webhook.key"}
"""The files of the home where versions before the store kept each purpose's key."""
MIN_KEY = 32
"""The fewest characters of a key set in the settings."""
KEY_DIGITS = 64
"""The hex digits of a key made here (32 random bytes), and of an earlier version's file."""
KEPT_FOR = 1.0
"""Seconds a process uses the keys it read before reading them again: a rotation signs, and a
dropped key is refused, at every process within this time."""
MAKE_ONE = "python -c 'import secrets; print(secrets.token_hex(32))'"


@dataclass(frozen=True)
class KeyRing:
    """The keys of one purpose: ``signing`` signs, each of ``verifying`` (``signing`` first,
    then older ones) is accepted. ``generation`` is the store's number of ``signing`` (None:
    the settings' keys)."""

    signing: bytes = field(repr=False)
    verifying: tuple[bytes, ...] = field(repr=False)
    generation: int | None


class ServerKeys:
    """The keys of the server on ``store``, as ``settings`` (whose own keys win) configure.

    Safe from several threads; each process reads the store's keys at most once per
    :data:`KEPT_FOR` seconds.

    Raises
    ------
    InvalidParameterError
        When made, for a key in the settings shorter than :data:`MIN_KEY` characters.
    """

    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store, self.settings, self.clock = store, settings, clock
        self._configured = {purpose: _configured(settings, purpose) for purpose in PURPOSES}
        self._read: dict[str, tuple[float, KeyRing]] = {}

    def configured(self, purpose: str) -> KeyRing | None:
        """The keys of ``purpose`` the settings set (None: the store's are used)."""
        return self._configured[_checked(purpose)]

    def ring(self, purpose: str) -> KeyRing:
        """The keys of ``purpose`` (:data:`SESSION` or :data:`WEBHOOK`), the first key of
        the store made now if it has none."""
        configured = self.configured(purpose)
        if configured is not None:
            return configured
        read = self._read.get(purpose)
        if read is None or self.clock() - read[0] > KEPT_FOR:
            read = self._read[purpose] = (self.clock(), self._stored(purpose))
        return read[1]

    def load(self) -> None:
        """Read every purpose's keys now, making those the store lacks: what the API does at
        its start, so that a home that holds an earlier version's key files gives them to
        the store when its server is started on this version. A store out of reach is left
        for the first use (the API starts, and answers 503 until the store is back)."""
        try:
            for purpose in PURPOSES:
                self.ring(purpose)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("the server's keys are read once the store answers: %s", e)

    def signing(self, purpose: str) -> bytes:
        """The key that signs for ``purpose`` now."""
        return self.ring(purpose).signing

    def server_name(self) -> str:
        """12 hex digits naming the server for its sessions (the end of their cookie's name,
        their audience), the same at every process on its store and through rotations: kept
        in the store once made, an HMAC of the store's id under its oldest session key (for a
        server upgraded from a home's ``jwt.key``, the name that key gave before, so that its
        sessions stay good), which says nothing of either."""
        oldest = self.ring(SESSION).verifying[-1]
        server = hmac.new(oldest, self.store.get_server_id().encode(), hashlib.sha256)
        return self.store.get_session_name(server.hexdigest()[:12])

    def rotate(self, purpose: str) -> int:
        """Make a new key of ``purpose``, signing from now on (at every process within
        :data:`KEPT_FOR` seconds); the previous ones still verify until :meth:`drop_old`.
        Returns its generation.

        Raises
        ------
        ConflictError
            When the settings set the keys of ``purpose`` (rotate them there), or another
            process rotated them at the same moment.
        """
        made = self._kept(self._in_store(purpose))[0].generation + 1
        if not self.store.create_server_key(purpose, made, secrets.token_hex(KEY_DIGITS // 2)):
            raise ConflictError(
                f"another process rotated the {purpose} key at the same moment (generation "
                f"{made} signs now): run the command again to rotate it once more"
            )
        self._read.pop(purpose, None)
        return made

    def drop_old(self, purpose: str) -> list[int]:
        """Drop the keys of ``purpose`` older than the one signing: what they signed is
        refused from now on (at every process within :data:`KEPT_FOR` seconds). Returns the
        generations dropped, oldest first.

        Raises
        ------
        ConflictError
            When the settings set the keys of ``purpose`` (drop them there).
        """
        kept = self.store.list_server_keys(self._in_store(purpose))
        self._read.pop(purpose, None)
        return self.store.delete_server_keys_before(purpose, kept[0].generation) if kept else []

    def _in_store(self, purpose: str) -> str:
        if self.configured(purpose) is not None:
            variable = f"AZURAFORGE_{purpose.upper()}_KEY"
            raise ConflictError(
                f"the {purpose} keys are set in the settings ({variable}), and the store's are "
                f"not used: rotate them there, the new key first and the previous ones after "
                f"it (docs/security.md, Keys)"
            )
        return purpose

    def _stored(self, purpose: str) -> KeyRing:
        kept = self._kept(purpose)
        keys = tuple(k.secret.encode() for k in kept)
        return KeyRing(keys[0], keys, kept[0].generation)

    def _kept(self, purpose: str) -> list[ServerKeyRecord]:
        """The store's keys of ``purpose``, newest first; the first made now if it has none."""
        kept = self.store.list_server_keys(purpose)
        if not kept:
            first, source = self._first_key(purpose)
            if self.store.create_server_key(purpose, 1, first) and source:
                _log.warning("the %s key of %s is taken into the store (it is read there from "
                             "now on; the file may be removed)", purpose, source)  # fmt: skip
            kept = self.store.list_server_keys(purpose)
        return kept

    def _first_key(self, purpose: str) -> tuple[str, str]:
        """The first key of ``purpose`` to propose, and the file it was read from ('':
        made now)."""
        path = self.settings.home / HOME_FILES[purpose]
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            return secrets.token_hex(KEY_DIGITS // 2), ""
        except (OSError, UnicodeDecodeError) as e:
            raise ConflictError(
                f"cannot read the {purpose} key an earlier version kept in {path} ({e}): let "
                f"this process read it, or remove it and a new key is made in the store "
                f"(what the old one signed is refused then)",
                public="the server's key is not usable; its administrator is told how to mend it",
            ) from None
        if len(key) < KEY_DIGITS:  # a file emptied or cut short is no key
            raise ConflictError(
                f"{path} holds no usable key ({len(key)} characters, {KEY_DIGITS} expected): "
                f"remove it and a new key is made in the store (sessions or signatures made "
                f"with the old one end)",
                public="the server's key is not usable; its administrator is told how to mend it",
            )
        return key, str(path)


def _checked(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InvalidParameterError(
            f"no key named {purpose!r}; the server's keys: {', '.join(PURPOSES)}"
        )
    return purpose


def _configured(settings: Settings, purpose: str) -> KeyRing | None:
    """The keys of ``purpose`` the settings set, or None."""
    given = [k.get_secret_value().strip() for k in getattr(settings, f"{purpose}_key")]
    keys = tuple(key.encode() for key in given if key)
    if not keys:
        return None
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_KEY:
            raise InvalidParameterError(
                f"{purpose}_key (AZURAFORGE_{purpose.upper()}_KEY): key {number} of "
                f"{len(keys)} has {len(key)} characters, at least {MIN_KEY} expected; make one "
                f"with: {MAKE_ONE}"
            )
    return KeyRing(keys[0], keys, None)
