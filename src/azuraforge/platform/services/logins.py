"""Signing in by name and password, so that an attacker slows themselves and not the user
they aim at, and cannot make the server run out of memory.

- **Held back by name and address together.** Failed sign-ins are counted in the store
  (:class:`~azuraforge.platform.store.logins.LoginStore`, shared by every API process) for
  the name tried from the address it came from: the first :data:`FREE_FAILURES` cost
  nothing, each one after holds that name back from that address for twice as long as the
  one before (2 s, 4 s, 8 s... at most :data:`MAX_HOLD`), whatever the password. The same
  name from another address is not held back: guesses from one address do not lock its
  user out. The right password forgets the failures of its address; others are forgotten
  :data:`FORGET_AFTER` after the last. An address trying many names is held back the same
  way, for every name, past :data:`ADDRESS_FREE_FAILURES` failures; those count only once a
  password is found wrong, so that right sign-ins from an address many share (a proxy, a
  NAT, localhost) never hold it back. A held-back attempt is refused (429, ``Retry-After``)
  before any password is checked.
- **A cap on password checks.** An argon2id check takes 64 MiB: at most
  :data:`MAX_PASSWORD_CHECKS` run at once in an API process, at most :data:`CHECKS_WAITING`
  more wait for one, each :data:`CHECK_WAIT` seconds at most; past that, 429. An unknown
  name is checked against a hash too, within the same cap: the time taken says nothing of
  who exists.
- **Told, not shown.** A failure and a held-back attempt are 401 and 429 in words that name
  no reason; the reason goes to the log and the audit log, summed
  (:class:`~azuraforge.platform.services.refusals.Refusals`).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator

from azuraforge.errors import CredentialError, TooManyRequestsError
from azuraforge.platform.services.access import NO_PASSWORD, password_matches
from azuraforge.platform.services.refusals import Refusals
from azuraforge.platform.store import LoginFailures, Store, UserRecord

FREE_FAILURES = 4
"""Failed sign-ins of a name from an address that hold nothing back."""
ADDRESS_FREE_FAILURES = 20
"""Failed sign-ins from an address, of any names, that hold nothing back: past them, every
name is held back from that address (one address trying many names slows itself too)."""
ANY_NAME = ""
"""The name the failures of an address, of any names, are counted under (no name is empty)."""
FIRST_HOLD = 2.0
"""Seconds the first failure past :data:`FREE_FAILURES` holds the name back from its address;
each one after doubles it."""
MAX_HOLD = 900.0
"""The longest a name is held back from an address (seconds)."""
FORGET_AFTER = 3600.0
"""Seconds after the last failure of a name from an address when its failures are forgotten."""
FORGET_EVERY = 60.0
"""Seconds between two passes of an API process forgetting old failures."""
MAX_PASSWORD_CHECKS = 2
"""The most password checks an API process runs at once: 2 x 64 MiB of argon2id memory."""
CHECKS_WAITING = 8
"""The most sign-ins of an API process waiting for a check (the others: 429)."""
CHECK_WAIT = 3.0
"""Seconds a sign-in waits at most for a check."""
BUSY_RETRY = 1.0
"""Seconds a sign-in refused for want of a check is told to wait."""
_SET_TRIES = 5
_DOUBLINGS_TO_MAX = math.ceil(math.log2(MAX_HOLD / FIRST_HOLD))
UNKNOWN_USER_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$2X0nZMkXCT7J5l9VEW2yrA"
    "$bh+s0UiOEKD9TwGsZoyvZ46Ea81unwanz1IFKdLYngE"
)
"""What an unknown name's password is checked against: the hash of 32 random bytes, thrown
away (no password matches it), at the cost of a real one (argon2 reads its cost from the
hash)."""


def hold_for(failures: int, free: int = FREE_FAILURES) -> float:
    """Seconds ``failures`` failed sign-ins in a row hold a name (or every name) back from
    their address, the first ``free`` of them holding nothing back.

    >>> [hold_for(n) for n in (1, 4, 5, 6, 7, 13, 14, 1100)]
    [0.0, 0.0, 2.0, 4.0, 8.0, 512.0, 900.0, 900.0]
    """
    if failures <= free:
        return 0.0
    doublings = min(failures - free - 1, _DOUBLINGS_TO_MAX)  # 2.0 ** 1024 overflows
    return min(FIRST_HOLD * 2.0**doublings, MAX_HOLD)


class PasswordChecks:
    """At most ``most`` password checks at once; at most ``waiting`` more callers wait for
    one, ``wait`` seconds at most. Safe from several threads."""

    def __init__(
        self, most: int = MAX_PASSWORD_CHECKS, waiting: int = CHECKS_WAITING,
        wait: float = CHECK_WAIT,
    ) -> None:  # fmt: skip
        self.most, self.waiting, self.wait = most, waiting, wait
        self._slots = threading.BoundedSemaphore(most)
        self._callers = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the checks while the block runs.

        Raises
        ------
        TooManyRequestsError
            When ``waiting`` callers wait already, or none was free within ``wait``.
        """
        with self._lock:
            full = self._callers >= self.most + self.waiting
            self._callers += 0 if full else 1
        if full:
            raise _busy(f"{self.most} password checks run and {self.waiting} wait")
        try:
            if not self._slots.acquire(timeout=self.wait):
                raise _busy(f"no password check free within {self.wait:.0f} s")
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._callers -= 1


def _busy(reason: str) -> TooManyRequestsError:
    public = "too many sign-ins at once: try again in a second"
    return TooManyRequestsError(reason, retry_after=BUSY_RETRY, public=public)


class Logins:
    """Signing in by name and password, held back by name and address and capped (see the
    module). Failures and refusals are told to ``refusals``; an unknown name's password is
    checked against ``unknown_hash`` (a hash as costly as the users' ones)."""

    def __init__(
        self, store: Store, refusals: Refusals | None = None,
        checks: PasswordChecks | None = None, clock: Callable[[], float] = time.time,
        unknown_hash: str = UNKNOWN_USER_HASH,
    ) -> None:  # fmt: skip
        self.store, self.clock, self.unknown_hash = store, clock, unknown_hash
        self.refusals = refusals or Refusals(store)
        self.checks = checks or PasswordChecks()
        self._forgotten_at = -math.inf
        self._lock = threading.Lock()

    def sign_in(self, name: str, password: str, address: str) -> UserRecord:
        """The user ``name`` if ``password`` is theirs and ``name`` is not held back from
        ``address``.

        Raises
        ------
        CredentialError
            For a wrong name or password (the same message for both), or a disabled user.
        TooManyRequestsError
            When the name is held back from the address, or no password check is free (its
            ``retry_after`` says when to try again).
        """
        try:
            for held in (name, ANY_NAME):
                self._refuse_held(held, address, self.store.find_login_failures(held, address))
            with self.checks.slot():
                user = self._checked(name, password, address)
        except (CredentialError, TooManyRequestsError) as e:
            action = "login.failed" if isinstance(e, CredentialError) else "login.refused"
            self.refusals.record(action, name, address, str(e))
            raise
        self.store.delete_login_failures(name, address)
        self.store.audit(name, "login", address=address)
        return user

    def _checked(self, name: str, password: str, address: str) -> UserRecord:
        """The user, once the attempt is counted as a failure of the name (until the password
        is found right: guesses at once each count) and the password checked; a failure
        counts for the address, of any name, once found (a right one must not)."""
        self._count_failure(name, address, FREE_FAILURES)
        try:
            return self._user_of(name, password)
        except CredentialError:
            self._count_failure(ANY_NAME, address, ADDRESS_FREE_FAILURES)
            raise

    def _user_of(self, name: str, password: str) -> UserRecord:
        user = self.store.find_user(name)
        usable = user is not None and user.password_hash != NO_PASSWORD
        stored = user.password_hash if user is not None and usable else self.unknown_hash
        if not password_matches(stored, password) or user is None or not usable:
            raise CredentialError("wrong name or password")
        if user.disabled_at is not None:
            raise CredentialError(f"{name}: disabled")
        return user

    def _count_failure(self, name: str, address: str, free: int) -> None:
        """Count one more failure of ``name`` (:data:`ANY_NAME`: of any) from ``address`` and
        hold it back for it past ``free`` failures, in one compare and set (attempts at once
        each count, in any processes).

        Raises
        ------
        TooManyRequestsError
            When it is held back already.
        """
        self._forget_old()
        for _ in range(_SET_TRIES):
            was = self.store.find_login_failures(name, address)
            self._refuse_held(name, address, was)
            now = self.clock()
            forgotten = was is None or was.last_at < now - FORGET_AFTER
            failures = 1 if forgotten or was is None else was.failures + 1
            counted = LoginFailures(failures, now, now + hold_for(failures, free))
            if self.store.set_login_failures(name, address, was, counted):
                return
        raise _busy(f"the count of failures changed {_SET_TRIES} times while read")

    def _refuse_held(self, name: str, address: str, found: LoginFailures | None) -> None:
        if found is None or found.held_until <= self.clock():
            return
        wait = found.held_until - self.clock()
        of = "of any name" if name == ANY_NAME else f"of {name!r}"
        raise TooManyRequestsError(
            f"held back after {found.failures} failures {of}",
            retry_after=wait,
            public=f"too many failed sign-ins {of} from this address: try again in "
            f"{math.ceil(wait)} s",
        )

    def _forget_old(self) -> None:
        """Forget every name's and address's failures older than :data:`FORGET_AFTER`, once
        every :data:`FORGET_EVERY` seconds at most (names tried once stay no longer)."""
        now = self.clock()
        with self._lock:
            due = now - self._forgotten_at >= FORGET_EVERY
            if due:
                self._forgotten_at = now
        if due:
            self.store.delete_login_failures_before(now - FORGET_AFTER)
