"""Who may do what: passwords, API tokens and roles.

- **Passwords** are hashed with argon2id (``argon2-cffi``) at RFC 9106's second recommended
  setting (3 passes over 64 MiB, 4 lanes): a guess costs an attacker that much memory. At
  least :data:`MIN_PASSWORD` characters.
- **API tokens** are ``af_<prefix>_<secret>``: 6 random bytes of prefix (to find the token)
  and 32 of secret (256 bits, from :mod:`secrets`); the store keeps the prefix and the
  SHA-256 of the secret, compared in constant time. The token itself is shown once, when it is
  made. Each is a user's, scoped to one project and one role, may expire and be revoked.
- **Signed claims** (JWT, PyJWT) carry who the caller is and the active project where a
  stateless claim helps (a browser session, issue 36): HS256 under the server's session key
  (:mod:`~azuraforge.platform.services.keys`: in the store or the settings, never a default
  secret; one signs, previous ones still verify), the algorithm pinned (a token signed
  ``none`` or with another algorithm or key is refused), an expiry required.
- **Roles** in a project: ``viewer`` reads; ``editor`` also submits, cancels, registers, moves
  aliases and triggers; ``admin`` also manages members, deletes and changes settings.

The API asks for one on every route but the health check and signing in
(:mod:`azuraforge.platform.api.access`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from typing import Any, NamedTuple

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from azuraforge.errors import (
    ConflictError,
    CredentialError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from azuraforge.platform.services.keys import SESSION, ServerKeys
from azuraforge.platform.store import TokenRecord
from azuraforge.platform.store.access import Credential
from azuraforge.platform.store.interfaces import Access

ROLES = ("viewer", "editor", "admin")
"""The roles of a project's members, each allowed what the ones before it are."""
ACTIONS = {"read": "viewer", "write": "editor", "manage": "admin"}
"""What each kind of request needs at least."""
MIN_PASSWORD = 12
"""The fewest characters of a password."""
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
"""argon2id at RFC 9106's second recommended setting (memory in KiB)."""
TOKEN = re.compile(r"af_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
"""A token as :func:`new_token` writes it."""
MAX_LIFE = 400 * 86_400.0
"""The longest a token may last (seconds)."""
TOKEN_LIFE = 90 * 86_400.0
"""How long a token made through the API lasts unless asked otherwise (seconds)."""
TOUCH_EVERY = 60.0
"""Seconds between two records of a token's last use."""
LINK = "link"
"""The kind of a one-time login link's token."""
BY_SESSION = "session"
"""The kind of a token a browser session made without its user's password: it ends with that
session, at its expiry or when its user signs out."""
LINK_SECONDS = 86_400.0
"""How long a login link lasts unused."""
FIRST_ADMIN = "admin"
"""The server admin the first start makes, when the store has no user."""
ALGORITHM = "HS256"
"""The only algorithm a claim may be signed with."""
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
"""What a user's or a project's name may be."""
_NAME = re.compile(NAME_PATTERN)


class Identity(NamedTuple):
    """Who a credential says the caller is: a user, the project it is for, their role there,
    when the credential ends (an API token's expiry; None: never, or not known), and its
    kind: ``api``, or :data:`BY_SESSION` for a browser session and a token one made (what
    either makes without the password ends with the session), or ``external`` for a run's
    own credential, which writes run ``run`` alone
    (:mod:`~azuraforge.platform.services.external_runs`)."""

    user: str
    project: str
    role: str
    expires_at: float | None = None
    kind: str = "api"
    run: int | None = None


def check_name(what: str, name: str) -> str:
    """``name`` if it can name a user or a project: letters, digits, ``_``, ``.``, ``-`` (not
    first), at most 100.

    >>> check_name("user", "ana.k")
    'ana.k'
    """
    if not _NAME.fullmatch(name):
        raise InvalidParameterError(
            f"{what} name {name!r} may hold only letters, digits, '_', '.' and '-' (not "
            "first), at most 100 characters"
        )
    return name


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`."""
    if role not in ROLES:
        raise InvalidParameterError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def allows(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (a key of :data:`ACTIONS`).

    >>> allows("editor", "write"), allows("viewer", "write"), allows("admin", "read")
    (True, False, True)
    """
    return ROLES.index(role) >= ROLES.index(ACTIONS[action])


def at_most(role: str, bound: str) -> bool:
    """Whether ``role`` is no higher than ``bound``: what a credential of role ``bound`` may
    make, grant, list or revoke.

    >>> at_most("viewer", "editor"), at_most("editor", "editor"), at_most("admin", "editor")
    (True, True, False)
    """
    return ROLES.index(role) <= ROLES.index(bound)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``.

    Raises
    ------
    InvalidParameterError
        For one shorter than :data:`MIN_PASSWORD` characters.
    """
    if len(password) < MIN_PASSWORD:
        raise InvalidParameterError(
            f"a password needs {MIN_PASSWORD} characters or more, got {len(password)}"
        )
    return HASHER.hash(password)


def password_matches(stored: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` (an argon2 hash) was made of."""
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(store: Access, name: str, password: str, *, is_admin: bool = False) -> None:
    """Store user ``name`` with ``password``'s hash."""
    store.create_user(check_name("user", name), hash_password(password), is_admin=is_admin)


def set_password(store: Access, name: str, password: str) -> None:
    """Set user ``name``'s password; their sessions signed until now end."""
    store.set_password(name, hash_password(password))
    store.end_sessions(name)


def first_admin(store: Access) -> bool:
    """Make the server admin :data:`FIRST_ADMIN`, without a password (they sign in by a login
    link until they set one: ``azuraforge users password``), if the store has no user yet;
    whether this made them."""
    if store.list_users():
        return False
    try:
        store.create_user(FIRST_ADMIN, NO_PASSWORD, is_admin=True)
    except ConflictError:  # another process of the server made them first
        return False
    store.audit("server", "user.create", target=FIRST_ADMIN)
    return True


NO_PASSWORD = "!"
"""The stored hash of a user without a password: no password matches it."""


def login_link(store: Access, user: str, project: str) -> str:
    """A one-time login link's token for ``user`` in ``project`` at their role there, valid
    :data:`LINK_SECONDS`; the server's ``/auth/link?token=...`` signs the browser in."""
    held = _held_role(store, user, project)
    token, _ = _issue(store, user=user, project=project, role=held, name="login link",
                      expires_in=LINK_SECONDS, kind=LINK)  # fmt: skip
    return token


def new_token(
    store: Access, *, user: str, project: str, role: str, name: str = "",
    expires_in: float | None = None, kind: str = "api",
) -> tuple[str, TokenRecord]:  # fmt: skip
    """A new token of ``user`` for ``role`` in ``project`` (at most the role they have there,
    any for a server admin), expiring ``expires_in`` seconds from now (None: never), of
    ``kind`` (``api``, or :data:`BY_SESSION`); the token, to be shown once, and its record.

    Raises
    ------
    InvalidParameterError
        For a role above the user's, or an ``expires_in`` not above 0.
    NotFoundError
        For an unknown user or project.
    """
    check_role(role)
    held = _held_role(store, user, project)
    if ROLES.index(role) > ROLES.index(held):
        raise InvalidParameterError(
            f"{user} is {held} in {project}: a token for {role} needs that role there"
        )
    if expires_in is not None and not (math.isfinite(expires_in) and 0 < expires_in <= MAX_LIFE):
        raise InvalidParameterError(
            f"expires_in must be above 0 seconds and at most {MAX_LIFE:.0f}, got {expires_in}"
        )
    return _issue(store, user=user, project=project, role=role, name=name,
                  expires_in=expires_in, kind=kind)  # fmt: skip


def _held_role(store: Access, user: str, project: str) -> str:
    """``user``'s role in ``project`` (admin for a server admin)."""
    found = store.find_user(user)
    if found is None:
        raise NotFoundError(f"no user named {user!r}")
    held = "admin" if found.is_admin else store.member_role(project, user)
    if held is None:
        raise InvalidParameterError(f"{user} is not a member of {project}")
    return held


def token_made_with(
    store: Access, maker: Identity, *, role: str, name: str = "",
    expires_in: float | None = None, kind: str = "api",
) -> tuple[str, TokenRecord]:  # fmt: skip
    """A new token made with the credential ``maker`` (a request's caller): its user's, for
    its project, at most at its role, and ending no later than it does (an API token that
    expires); ``expires_in`` None: :data:`TOKEN_LIFE`, or until the maker ends if sooner. A
    credential acts at most at its own role: a viewer token of an admin makes viewer tokens.

    Raises
    ------
    PermissionDeniedError
        For a role above the maker's.
    InvalidParameterError
        For a token that would outlive the maker (of ``kind`` :data:`BY_SESSION`: one that
        ends with the session; the password again makes a longer one), or what
        :func:`new_token` refuses.
    """
    if not at_most(check_role(role), maker.role):
        raise PermissionDeniedError(
            f"this credential is {maker.role} in {maker.project}: a token it makes is at most "
            f"{maker.role}, not {role}; make it with a credential of that role"
        )
    left = math.inf if maker.expires_at is None else maker.expires_at - store.database_now()
    if expires_in is None:
        expires_in = min(TOKEN_LIFE, left)
    elif expires_in > left:
        longer = "give your password for a longer one, or " if kind == BY_SESSION else ""
        raise InvalidParameterError(
            f"a token made with one that ends in {math.floor(left / 864) / 100} days cannot "
            f"last {expires_in / 86_400:g} days: {longer}ask for that many or fewer"
        )
    return new_token(store, user=maker.user, project=maker.project, role=role, name=name,
                     expires_in=expires_in, kind=kind)  # fmt: skip


def sees_user(store: Access, admin: Identity, user: str) -> bool:
    """Whether the project admin ``admin`` may name ``user`` to add them to its project: a
    member of a project their user administers (any user, for a server admin). An unknown
    name and a user they do not see get the same answer, so that adding a member tells an
    admin no more about which names exist than they knew."""
    found = store.find_user(admin.user)
    if found is not None and found.is_admin:
        return store.find_user(user) is not None
    projects = store.list_projects()
    administered = [p for p in projects if store.member_role(p, admin.user) == "admin"]
    return any(store.member_role(p, user) is not None for p in administered)


def _issue(
    store: Access, *, user: str, project: str, role: str, name: str, expires_in: float | None,
    kind: str = "api",
) -> tuple[str, TokenRecord]:  # fmt: skip
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = store.create_token(prefix, _digest(secret), user=user, project=project, role=role,
                                name=name, expires_in=expires_in, kind=kind)  # fmt: skip
    return f"af_{prefix}_{secret}", record


def authenticate(
    store: Access, token: str, *, now: float | None = None, kind: str = "api"
) -> Identity:
    """Who ``token`` says the caller is. Its last use is recorded once a minute at most (a
    store write per request would halve a busy route's rate). A token of ``kind`` ``link``
    (a one-time login link) is used up here, once even when sent twice at once.

    Raises
    ------
    CredentialError
        For a token that is malformed, unknown, wrong, expired, revoked or of another kind
        (a login link sent as an API token), or whose user is disabled; its message says
        which, for the server's log.
    """
    parts = TOKEN.fullmatch(token)
    found = store.find_credential(parts[1]) if parts else None
    if parts is None or found is None:
        raise CredentialError("not a token of this server")
    now = found.now if now is None else now
    record = found.token
    if not hmac.compare_digest(_digest(parts[2]), record.secret_hash):
        raise CredentialError(f"token {record.prefix}: wrong secret")
    _check_token(record, kind, now, found.sessions_after)
    role = _held_role_now(found)
    _record_use(store, record, kind, now)
    return Identity(record.user, record.project, role, record.expires_at, record.kind)


def _check_token(record: TokenRecord, kind: str, now: float, sessions_after: float | None) -> None:
    """Refuse a token revoked, expired (at ``now``, the database's clock), of another kind, or
    made by a session signed out of since."""
    if record.revoked_at is not None:
        raise CredentialError(f"token {record.prefix}: revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise CredentialError(f"token {record.prefix}: expired")
    if (record.kind == LINK) != (kind == LINK):
        raise CredentialError(f"token {record.prefix}: of kind {record.kind!r}, not {kind!r}")
    if record.kind == BY_SESSION and record.created_at <= (sessions_after or -math.inf):
        raise CredentialError(f"token {record.prefix}: made by a session signed out of")


def _held_role_now(found: Credential) -> str:
    """The role the token gives now: the lower of its own and its user's in its project."""
    record = found.token
    if found.disabled_at is not None:
        raise CredentialError(f"{record.user}: disabled")
    held = "admin" if found.is_admin else found.member_role
    if held is None:
        raise CredentialError(f"{record.user}: no longer a member of {record.project}")
    return _lower(held, record.role)


def _record_use(store: Access, record: TokenRecord, kind: str, now: float) -> None:
    """Use up a login link (once, even when sent twice at once), or note an API token's use
    (once a minute at most)."""
    if kind == LINK:
        if not store.use_once(record.prefix, now):
            raise CredentialError(f"token {record.prefix}: a login link used already")
    elif record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY:
        store.touch_token(record.prefix, now)


def current_role(store: Access, claimed: Identity, *, signed_at: float | None = None) -> str:
    """The role a credential made earlier still gives: the lower of the one it was made with
    and the one its user has now in its project (any for a server admin).

    Raises
    ------
    CredentialError
        When the user is gone or disabled, no longer a member, or signed out of every
        session after ``signed_at`` (for a session).
    """
    user, now = store.find_user_now(claimed.user)
    if user is None or user.disabled_at is not None:
        raise CredentialError(f"{claimed.user}: no such user now, or disabled")
    if claimed.expires_at is not None and claimed.expires_at <= now:
        raise CredentialError(f"{claimed.user}: a session that ended")
    ended = user.sessions_after
    if signed_at is not None and ended is not None and signed_at <= ended:
        raise CredentialError(f"{claimed.user}: a session signed out of")
    held = "admin" if user.is_admin else store.member_role(claimed.project, claimed.user)
    if held is None:
        raise CredentialError(f"{claimed.user}: no longer a member of {claimed.project}")
    return _lower(held, claimed.role)


def _decoded(verifying: tuple[bytes, ...], token: str, audience: str) -> dict[str, Any]:
    """The claims of ``token`` under the first of ``verifying`` its signature matches."""
    required = ["exp", "iat", "sub", "project", "role", "aud"]
    refused: Exception | None = None
    for key in verifying:
        try:
            # Its times are judged by the database's clock (current_role), not by this
            # machine's: replicas whose clocks differ judge a session alike.
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=audience,
                              options={"require": required, "verify_exp": False,
                                       "verify_iat": False})  # fmt: skip
        except jwt.InvalidSignatureError as e:
            refused = e  # perhaps signed with a previous key: try it
        except (jwt.InvalidTokenError, jwt.InvalidKeyError) as e:
            refused = e
            break
    raise CredentialError(f"claim refused: {refused}") from None


def _lower(held: str, claimed: str) -> str:
    """The lower of two roles: a credential gives no more than its user has now."""
    return ROLES[min(ROLES.index(held), ROLES.index(claimed))]


def sign_claims(
    keys: ServerKeys, identity: Identity, *, seconds: float, audience: str, now: float
) -> str:
    """A claim that ``identity`` holds for ``seconds`` from ``now`` (by the database's clock,
    which :func:`current_role` judges it by) at the server named ``audience`` alone, signed
    with the server's session key."""
    claims = {"sub": identity.user, "project": identity.project, "role": identity.role,
              "iat": now, "exp": now + seconds, "aud": audience}  # fmt: skip
    return jwt.encode(claims, keys.signing(SESSION), algorithm=ALGORITHM)


def read_claims(keys: ServerKeys, token: str, *, audience: str) -> tuple[Identity, float]:
    """The identity a claim signed by this server for the server named ``audience`` holds,
    and when it was signed: under its session key or a previous one not yet dropped (two
    servers sharing keys, in settings, do not share their users).

    Raises
    ------
    CredentialError
        For a claim signed otherwise (another key, a dropped one, another algorithm,
        ``none``), for another server, without an expiry, or not a claim. Whether it has
        expired, or its user signed out since, :func:`current_role` says (by the database's
        clock).
    """
    found = _decoded(keys.ring(SESSION).verifying, token, audience)
    if found["role"] not in ROLES:
        raise CredentialError(f"claim refused: no role {found['role']!r}")
    who = Identity(str(found["sub"]), str(found["project"]), str(found["role"]),
                   float(found["exp"]), BY_SESSION)  # fmt: skip
    return who, float(found["iat"])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
