"""A credential acts at most at its own role, everywhere. Generated from the live OpenAPI:
every operation whose request or answer carries a ``role``, or that is about tokens, members
and projects (under ``/access``, ``/auth/projects``), is called with tokens of each role (of
a server admin and of a project's admin), sessions of each role and tokens of the kind a
session makes (without the password, ending with it), with a body asking for
each role its schema allows (and one with its required fields alone, taking the defaults),
on the user's other token at their highest role and on a fellow admin of the project. After
each call the store holds nothing made or granted above the calling credential's role (a
token, a membership, the membership a new project gives its maker), nothing above it revoked
or taken away, and no token outliving the token or session that made it, nor one a session
or a session's token made that would outlive signing out (the bodies give no password: a
session given its user's password again may make a longer-lived one); no answer lists a
token above it. A new route is covered without editing this test."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import API_PREFIX
from azuraforge.platform.services.access import (
    BY_SESSION,
    NO_PASSWORD,
    ROLES,
    create_user,
    new_token,
)
from azuraforge.platform.store import DEFAULT_PROJECT, Store, TokenRecord

PASSWORD = "correct horse battery"
SESSION_USERS = {"viewer": "vera", "editor": "eddy", "admin": "ada"}
"""A member of the project at each role, each signed in (their session is at that role)."""
TOKEN_USERS = ("root", "ada")
"""A server admin and a project admin, each with a token of each role."""
FELLOW = "tz"
"""Another admin of the project: the user an operation on a member names."""
TOKEN_DAYS = 30
"""How long the calling tokens last: a token they make must not last longer."""
COVERED = {
    "POST /access/tokens", "GET /access/tokens", "DELETE /access/tokens/{prefix}",
    "PUT /access/members/{user}", "DELETE /access/members/{user}", "POST /auth/projects",
}  # fmt: skip
"""Operations the discovery must find (it finds more: any new one that takes a role)."""


@dataclass(frozen=True)
class Credential:
    label: str
    user: str
    role: str
    headers: dict[str, str]
    expires_at: float | None
    """When it ends (None: never)."""
    kind: str = "api"
    """``api``, or ``session``: a session's, ending with it."""


@dataclass(frozen=True)
class Held:
    """What the store holds of credentials and roles: tokens by prefix, roles by
    ``(project, user)``."""

    tokens: dict[str, TokenRecord]
    members: dict[tuple[str, str], str]


def test_no_credential_makes_grants_lists_or_revokes_above_its_role(
    anonymous: TestClient, store: Store
) -> None:
    credentials = _credentials(anonymous, store)
    spec = anonymous.get("/openapi.json").json()
    operations = _operations(spec)
    assert {key for key, _, _, _ in operations} >= COVERED
    names = (f"n{i}" for i in itertools.count())
    calls, found = 0, []
    for (key, path, method, schema), credential in itertools.product(operations, credentials):
        for body in _bodies(spec, schema, names):
            url = _filled(path, store, credential.user)
            before = _held(store)
            anonymous.cookies.clear()
            answer = anonymous.request(method, url, json=body, headers=credential.headers)
            anonymous.cookies.clear()
            assert answer.status_code < 500, (key, credential.label, answer.text)
            shown = answer.json() if answer.content else None
            problems = _above(credential, before, _held(store), shown)
            found += [f"{key} {body} by {credential.label}: {p}" for p in problems]
            calls += 1
    assert not found, "\n".join(found)
    assert calls > 100


def _credentials(client: TestClient, store: Store) -> list[Credential]:
    """A token of each role of :data:`TOKEN_USERS`, a session of each role, and a token of
    each made by a session."""
    store.create_user("root", NO_PASSWORD, is_admin=True)
    store.create_user(FELLOW, NO_PASSWORD)
    for role, user in SESSION_USERS.items():
        create_user(store, user, PASSWORD)
        store.set_member(DEFAULT_PROJECT, user, role)
    found = []
    for user, role in itertools.product(TOKEN_USERS, ROLES):
        token, record = new_token(store, user=user, project=DEFAULT_PROJECT, role=role,
                                  expires_in=TOKEN_DAYS * 86_400)  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        found.append(Credential(f"{user}'s {role} token", user, role, headers, record.expires_at))
    for role, user in SESSION_USERS.items():
        signed = client.post("/api/v1/auth/login", json={"name": user, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        [(name, value)] = signed.cookies.items()
        ends = jwt.decode(value, options={"verify_signature": False})["exp"]  # the claim's end
        found.append(Credential(f"{user}'s {role} session", user, role,
                                {"Cookie": f"{name}={value}"}, ends, BY_SESSION))  # fmt: skip
        token, record = new_token(store, user=user, project=DEFAULT_PROJECT, role=role,
                                  expires_in=ends - time.time(), kind=BY_SESSION)  # fmt: skip
        found.append(Credential(f"{user}'s {role} session token", user, role,
                                {"Authorization": f"Bearer {token}"}, record.expires_at,
                                BY_SESSION))  # fmt: skip
    client.cookies.clear()
    return found


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """``(key, path, method, request schema)`` of each operation taking a credential about
    roles, tokens, members or projects (signing in takes none)."""
    found = []
    for path, methods in spec["paths"].items():
        short = path.removeprefix(API_PREFIX)
        for method, operation in methods.items():
            schema = _request_schema(spec, operation)
            concerned = short.startswith(("/access/", "/auth/projects")) or any(
                "role" in _properties(spec, s) for s in (schema, _answer_schema(spec, operation))
            )
            if concerned and "security" in operation:
                found.append((f"{method.upper()} {short}", path, method.upper(), schema))
    return found


def _request_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else _resolved(spec, schema)


def _answer_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    for status, answer in operation.get("responses", {}).items():
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if status.startswith("2") and schema is not None:
            schema = _resolved(spec, schema)
            return _resolved(spec, schema["items"]) if schema.get("type") == "array" else schema
    return None


def _resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` followed, and the first alternative of an ``anyOf`` that
    is not null."""
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        else:
            return schema


def _properties(spec: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {name: _resolved(spec, s) for name, s in schema.get("properties", {}).items()}


def _bodies(
    spec: dict[str, Any], schema: dict[str, Any] | None, names: Any
) -> list[dict[str, Any] | None]:
    """A body asking for each role the schema allows, every field filled (a number at its
    maximum: a token's life) but a password (what a credential alone may do is the question),
    and one of its required fields alone; None without a body."""
    if schema is None:
        return [None]
    fields = _properties(spec, schema)
    full = {name: _value(field, names) for name, field in fields.items() if name != "password"}
    roles = fields.get("role", {}).get("enum", [None])
    bodies = [full | ({"role": role} if role else {}) for role in roles]
    required = {name: full[name] for name in schema.get("required", [])}
    return bodies if required in bodies else [*bodies, required]


def _value(field: dict[str, Any], names: Any) -> Any:
    """A valid value of ``field``: its first choice, its largest number, a new name."""
    if "enum" in field:
        return field["enum"][0]
    if field.get("type") in ("number", "integer"):
        return field.get("maximum", 1)
    return {"boolean": False, "array": [], "object": {}}.get(field.get("type", ""), next(names))


def _filled(path: str, store: Store, user: str) -> str:
    """``path`` naming a new token of ``user``'s at their highest role in the project, or
    :data:`FELLOW`, an admin of it again."""
    if "{user}" in path:
        store.set_member(DEFAULT_PROJECT, FELLOW, "admin")
    values = {"user": FELLOW, "prefix": _target_token(store, user) if "{prefix}" in path else ""}
    return re.sub(r"{(\w+)(?::path)?}", lambda m: values[m[1]], path)


def _target_token(store: Store, user: str) -> str:
    found = store.find_user(user)
    held = "admin" if found and found.is_admin else store.member_role(DEFAULT_PROJECT, user)
    _, record = new_token(store, user=user, project=DEFAULT_PROJECT, role=held or "viewer")
    return record.prefix


def _held(store: Store) -> Held:
    members = {(project, user): role for project in store.list_projects()
               for user, role in store.list_members(project)}  # fmt: skip
    return Held({t.prefix: t for t in store.list_tokens()}, members)


def _above(credential: Credential, before: Held, after: Held, answer: Any) -> list[str]:
    """What a call did or showed above ``credential``'s role, or past its end."""
    bound = credential.role
    problems = []
    for prefix, token in after.tokens.items():
        old = before.tokens.get(prefix)
        if old is None and not at_most(token.role, bound):
            problems.append(f"made a token for {token.role}")
        if old is None and _outlives(token, credential):
            problems.append(f"made a token outliving it, to {token.expires_at}")
        if old is None and credential.kind == BY_SESSION and token.kind != BY_SESSION:
            problems.append(f"made a token of kind {token.kind} that outlives signing out")
        if old and old.revoked_at is None and token.revoked_at and not at_most(token.role, bound):
            problems.append(f"revoked a token for {token.role}")
    for project, user in before.members.keys() | after.members.keys():
        was, now = before.members.get((project, user)), after.members.get((project, user))
        if was != now and not all(at_most(r, bound) for r in (was, now) if r):
            problems.append(f"changed {user} in {project} from {was} to {now}")
    listed = answer if isinstance(answer, list) else []
    shown = {item["role"] for item in listed if isinstance(item, dict) and "prefix" in item}
    return problems + [f"listed tokens for {r}" for r in sorted(shown) if not at_most(r, bound)]


def at_most(role: str, bound: str) -> bool:
    return ROLES.index(role) <= ROLES.index(bound)


def _outlives(token: TokenRecord, credential: Credential) -> bool:
    """Whether ``token`` ends after the credential that made it (by more than the
    milliseconds between the check and the write)."""
    if credential.expires_at is None:
        return False
    return token.expires_at is None or token.expires_at > credential.expires_at + 1
