"""``/auth``: sign in with a name and a password (a session cookie holding a signed claim),
sign out, and who the caller is (by that cookie or an API token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from azuraforge.errors import ConflictError, CredentialError, NotFoundError
from azuraforge.platform.api.access import (
    MANAGE,
    PUBLIC,
    READ,
    Manager,
    Reader,
    client_address,
    server_id,
    session_cookie,
)
from azuraforge.platform.api.deps import AccessDep, KeysDep, ServerStoreDep
from azuraforge.platform.api.schemas.auth import (
    Caller,
    NewProject,
    ProjectChoice,
    ProjectPublic,
    SignIn,
)
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.services.access import (
    LINK,
    Identity,
    authenticate,
    current_role,
    read_claims,
    sign_claims,
)
from azuraforge.platform.services.keys import ServerKeys
from azuraforge.platform.services.logins import Logins
from azuraforge.platform.services.refusals import Refusals
from azuraforge.platform.store.access import AuditRecord
from azuraforge.platform.store.interfaces import ProjectView

router = APIRouter(prefix="/auth", tags=["auth"])
ERRORS = error_responses(400, 401, 404, 409, 413, 422, 503)
SESSION_SECONDS = 12 * 3600.0
"""How long a session lasts after signing in."""


def logins(request: Request) -> Logins:
    """The API process's sign-in guard (its cap on password checks; the failures it
    holds back are counted in the store)."""
    found: Logins = request.app.state.logins
    return found


@router.post("/login", dependencies=[PUBLIC], response_model=Caller,
             responses={**ERRORS, **error_responses(429)})  # fmt: skip
def login(
    body: SignIn,
    request: Request,
    response: Response,
    store: ServerStoreDep,
    keys: KeysDep,
    guard: Annotated[Logins, Depends(logins)],
) -> Caller:
    """Sign in: a session cookie (HttpOnly, SameSite=Strict) for ``project``, for 12 hours.
    A wrong name or password is 401 in the same words. After 4 failures of a name from an
    address, each one holds that name back from that address twice as long as the one before
    (2 s, 4 s... 15 minutes at most): 429, ``Retry-After`` saying when to try again; as when
    more sign-ins come at once than the server checks."""
    user = guard.sign_in(body.name, body.password, client_address(request))
    role = "admin" if user.is_admin else store.member_role(body.project, user.name)
    if role is None or body.project not in store.list_projects():
        raise NotFoundError(f"no project named {body.project!r} of {user.name}'s",
                            public=f"no project named {body.project!r}")  # fmt: skip
    who = Identity(user.name, body.project, role)
    _start_session(response, request, keys, who)
    return Caller(**who._asdict())


@router.get("/link", dependencies=[PUBLIC], status_code=303, responses=ERRORS)
def follow_link(
    token: Annotated[str, Query(max_length=100, description="The link's one-time token.")],
    request: Request,
    store: ServerStoreDep,
    keys: KeysDep,
    next: Annotated[str, Query(max_length=2000, description="A page of this server.")] = "/",
) -> Response:
    """Follow a one-time login link (the first start prints one, ``azuraforge users link``
    makes more): the browser is signed in as a session (a cookie, as by ``/auth/login``) and
    sent on to ``next``, a path of this server; the link works once, within a day."""
    try:
        who = authenticate(store, token, kind=LINK)
    except CredentialError as e:  # its reason for the server's refusals, never the caller
        refusals: Refusals = request.app.state.refusals
        refusals.record("link.refused", "", client_address(request), str(e))
        raise
    store.audit(who.user, "login.link", project=who.project, address=client_address(request))
    response = RedirectResponse(_local(next), status_code=303)
    _start_session(response, request, keys, who)
    return response


@router.post("/project", dependencies=[READ], response_model=Caller, responses=ERRORS)
def switch_project(
    body: ProjectChoice,
    who: Reader,
    request: Request,
    response: Response,
    store: ServerStoreDep,
    keys: KeysDep,
) -> Caller:
    """Work in another project: the session's cookie is signed again for ``project``, at the
    user's role there; 404 for a project that is not theirs (or does not exist). An API
    token is for one project: make one for the other."""
    if request.headers.get("authorization"):
        raise ConflictError("an API token is for one project: make one for the other")
    missing = f"no project named {body.project!r}"
    if body.project not in store.list_projects():  # a server admin's role holds in any
        raise NotFoundError(missing, public=missing)
    try:
        role = current_role(store, who._replace(project=body.project, role="admin"))
    except CredentialError as e:
        raise NotFoundError(str(e), public=missing) from None
    moved = Identity(who.user, body.project, role)
    _start_session(response, request, keys, moved)
    return Caller(**moved._asdict())


@router.post("/logout", dependencies=[PUBLIC], status_code=204, responses=ERRORS)
def logout(request: Request, response: Response, store: ServerStoreDep, keys: KeysDep) -> Response:
    """Sign out: the session cookie is cleared, and every session of its user signed until
    now is refused from now on (a copy of the cookie included)."""
    cookie = session_cookie(request.app)
    session = request.cookies.get(cookie)
    if session:
        try:
            who, _ = read_claims(keys, session, audience=server_id(request.app))
        except CredentialError:
            pass  # nothing to end: an invalid cookie is cleared all the same
        else:
            store.end_sessions(who.user)
            store.audit(who.user, "logout", project=who.project, address=client_address(request))
    response.delete_cookie(cookie, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response


@router.get("/me", dependencies=[READ], response_model=Caller, responses=ERRORS)
def me(who: Reader) -> Caller:
    """Who the caller is: by an API token (``Authorization: Bearer af_...``) or the session
    cookie; 401 without a valid one."""
    return Caller(**who._asdict())


@router.get("/projects", dependencies=[READ], response_model=list[ProjectPublic],
            responses=ERRORS)  # fmt: skip
def my_projects(who: Reader, store: ServerStoreDep) -> list[ProjectPublic]:
    """The projects the caller may work in, with their role in each (a server admin: every
    project, as admin); the project picker's list."""
    user = store.find_user(who.user)
    names = store.list_projects()
    roles = {name: "admin" if user and user.is_admin else store.member_role(name, who.user)
             for name in names}  # fmt: skip
    return [ProjectPublic(name=n, role=r, active=n == who.project) for n, r in roles.items() if r]


@router.post("/projects", dependencies=[MANAGE], status_code=201, response_model=ProjectPublic,
             responses=ERRORS)  # fmt: skip
def create_project(
    body: NewProject, who: Manager, request: Request, store: ServerStoreDep
) -> ProjectPublic:
    """Create a project (a credential at admin: one that makes its user admin of the new
    project acts at no more than its own role); the caller is its admin (409 for a name
    taken)."""
    name = body.project
    store.create_project(name)
    store.set_member(name, who.user, "admin")
    store.audit(who.user, "project.create", name, project=name, address=client_address(request))
    return ProjectPublic(name=name, role="admin", active=False)


@router.get("/audit", dependencies=[MANAGE], response_model=list[AuditRecord],
            responses=ERRORS)  # fmt: skip
def audit_log(
    store: AccessDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditRecord]:
    """The project's audit log, newest first (its admins): sign-ins, the API's writes (the
    method and the path), what the CLI changed; who, when, from where."""
    return store.list_audit(limit=limit)


def _start_session(response: Response, request: Request, keys: ServerKeys, who: Identity) -> None:
    store: ProjectView = request.app.state.store
    claims = sign_claims(keys, who, seconds=SESSION_SECONDS, audience=server_id(request.app),
                         now=store.database_now())  # fmt: skip
    response.set_cookie(
        session_cookie(request.app),
        claims,
        max_age=int(SESSION_SECONDS), httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip


def _local(target: str) -> str:
    """``target`` if it is a path of this server (not ``//host``, not ``/\\host``), else
    ``/``: a link cannot send the browser elsewhere.

    >>> _local("/#/experiments/1"), _local("//evil.example"), _local("https://evil.example")
    ('/#/experiments/1', '/', '/')
    """
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
