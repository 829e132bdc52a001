"""``/auth``: sign in with a name and a password (a session cookie holding a signed claim),
sign out, and who the caller is (by that cookie or an API token). The other routes do not
ask for a credential yet (issue 36 is under way: docs/security.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from azuraforge.errors import CredentialError, NotFoundError
from azuraforge.platform.api.deps import SettingsDep, StoreDep
from azuraforge.platform.api.schemas import RequestBody, error_responses
from azuraforge.platform.services.access import (
    Identity,
    Logins,
    authenticate,
    current_role,
    read_claims,
    sign_claims,
)
from azuraforge.platform.store import DEFAULT_PROJECT, Store

router = APIRouter(prefix="/auth", tags=["auth"])
ERRORS = error_responses(400, 401, 404, 409, 413, 422, 503)
COOKIE = "azuraforge_session"
SESSION_SECONDS = 12 * 3600.0
"""How long a session lasts after signing in."""


class SignIn(RequestBody):
    """A user's name and password, and the project to work in."""

    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    project: str = Field(DEFAULT_PROJECT, min_length=1, max_length=100)


class Caller(BaseModel):
    """Who the credential says the caller is, and in which project with which role."""

    user: str
    project: str
    role: str = Field(description="viewer, editor or admin.")


def logins(request: Request) -> Logins:
    """The API process's sign-in guard (its counts of failures)."""
    found: Logins = request.app.state.logins
    return found


@router.post("/login", response_model=Caller, responses=ERRORS)
def login(
    body: SignIn,
    request: Request,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    guard: Annotated[Logins, Depends(logins)],
) -> Caller:
    """Sign in: a session cookie (HttpOnly, SameSite=Strict) for ``project``, for 12 hours.
    A wrong name or password is 401 in the same words; after 5 failures of a name or from an
    address within 5 minutes, 401 until the oldest leaves that window."""
    user = guard.sign_in(body.name, body.password, _address(request))
    role = "admin" if user.is_admin else store.member_role(body.project, user.name)
    if role is None or body.project not in store.list_projects():
        raise NotFoundError(f"no project named {body.project!r} of {user.name}'s",
                            public=f"no project named {body.project!r}")  # fmt: skip
    who = Identity(user.name, body.project, role)
    response.set_cookie(
        COOKIE, sign_claims(settings.home, who, seconds=SESSION_SECONDS),
        max_age=int(SESSION_SECONDS), httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return Caller(**who._asdict())


@router.post("/logout", status_code=204, responses=ERRORS)
def logout(
    request: Request, response: Response, store: StoreDep, settings: SettingsDep
) -> Response:
    """Sign out: the session cookie is cleared, and every session of its user signed until
    now is refused from now on (a copy of the cookie included)."""
    session = request.cookies.get(COOKIE)
    if session:
        try:
            who, _ = read_claims(settings.home, session)
        except CredentialError:
            pass  # nothing to end: an invalid cookie is cleared all the same
        else:
            store.end_sessions(who.user, time.time())
            store.audit(who.user, "logout", project=who.project, address=_address(request))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response


@router.get("/me", response_model=Caller, responses=ERRORS)
def me(request: Request, store: StoreDep, settings: SettingsDep) -> Caller:
    """Who the caller is: by an API token (``Authorization: Bearer af_...``) or the session
    cookie; 401 without a valid one."""
    return Caller(**caller(request, store, settings.home)._asdict())


def caller(request: Request, store: Store, home: Path) -> Identity:
    """The identity of the request's credential.

    Raises
    ------
    CredentialError
        Without one, or with one that is not good.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return authenticate(store, token.strip())
    session = request.cookies.get(COOKIE)
    if not session:
        raise CredentialError("no credential")
    claimed, signed_at = read_claims(home, session)
    role = current_role(store, claimed, signed_at=signed_at)
    return Identity(claimed.user, claimed.project, role)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
