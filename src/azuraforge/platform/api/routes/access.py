"""``/access``: a project's members and their roles (its admins), and the caller's own API
tokens (made at most at their role, shown once, revoked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from azuraforge.errors import (
    ConflictError,
    CredentialError,
    NotFoundError,
    PermissionDeniedError,
)
from azuraforge.platform.api.access import (
    MANAGE,
    READ,
    Manager,
    Reader,
    client_address,
)
from azuraforge.platform.api.deps import ServerStoreDep
from azuraforge.platform.api.schemas.access import (
    Member,
    MemberRole,
    TokenCreate,
    TokenMade,
    TokenPublic,
)
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.services.access import (
    BY_SESSION,
    LINK,
    NAME_PATTERN,
    Identity,
    at_most,
    sees_user,
    token_made_with,
)
from azuraforge.platform.services.logins import Logins
from azuraforge.platform.store.interfaces import Access

router = APIRouter(prefix="/access", tags=["access"])
ERRORS = error_responses(400, 404, 409, 413, 422, 503)
UserName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=100, description="A user.")]


@router.get("/members", dependencies=[MANAGE], response_model=list[Member], responses=ERRORS)
def list_members(who: Manager, store: ServerStoreDep) -> list[Member]:
    """The project's members and their roles (its admins)."""
    return [Member(user=u, role=r) for u, r in store.list_members(who.project)]


@router.put("/members/{user}", dependencies=[MANAGE], response_model=Member, responses=ERRORS)
def set_member(
    user: UserName, body: MemberRole, who: Manager, request: Request, store: ServerStoreDep
) -> Member:
    """Give a user a role in the project (replacing theirs): a member of a project the
    caller's user administers (anyone, for a server admin); 404 alike for an unknown name and
    for a user the caller does not see; 409 for taking the project's last admin's role away."""
    if not sees_user(store, who, user):
        raise NotFoundError(
            f"{who.user} may not add {user!r}: unknown, or in no project they administer",
            public=f"no user named {user!r} in the projects you administer; a server admin "
            "adds a user to a first project (azuraforge projects member)",
        )
    if body.role != "admin":
        _keep_an_admin(store, who.project, user)
    store.set_member(who.project, user, body.role)
    store.audit(who.user, "member.set", f"{user}: {body.role}", project=who.project,
                address=client_address(request))  # fmt: skip
    return Member(user=user, role=body.role)


@router.delete("/members/{user}", dependencies=[MANAGE], status_code=status.HTTP_204_NO_CONTENT,
               responses=ERRORS)  # fmt: skip
def remove_member(user: UserName, who: Manager, request: Request, store: ServerStoreDep) -> None:
    """Take a user out of the project (their tokens for it stop working); 404 alike for a
    user who is not a member and for a name nobody has; 409 for its last admin."""
    if user not in dict(store.list_members(who.project)):
        raise NotFoundError(f"{user} is not a member of {who.project}")
    _keep_an_admin(store, who.project, user)
    store.remove_member(who.project, user)
    store.audit(
        who.user, "member.remove", user, project=who.project, address=client_address(request)
    )


@router.get("/tokens", dependencies=[READ], response_model=list[TokenPublic], responses=ERRORS)
def my_tokens(who: Reader, store: ServerStoreDep) -> list[TokenPublic]:
    """The caller's API tokens for this project at most at the calling credential's role,
    newest first (never their secrets)."""
    tokens = [t for t in store.list_tokens(who.user) if t.project == who.project]
    return [TokenPublic.of(t) for t in tokens if t.kind != LINK and at_most(t.role, who.role)]


@router.post("/tokens", dependencies=[READ], status_code=status.HTTP_201_CREATED,
             response_model=TokenMade, responses=ERRORS)  # fmt: skip
def make_token(
    body: TokenCreate, who: Reader, request: Request, store: ServerStoreDep
) -> TokenMade:
    """A new API token of the caller's for this project, at most at the calling credential's
    role, ending no later than a token making it (403, 400); the answer shows it once."""
    days = body.expires_in_days
    seconds = None if days is None else days * 86_400
    maker, kind = _maker(who, body, request)
    token, record = token_made_with(store, maker, role=body.role, name=body.name,
                                    expires_in=seconds, kind=kind)  # fmt: skip
    store.audit(who.user, "token.create", f"{record.prefix}: {body.role}", project=who.project,
                address=client_address(request))  # fmt: skip
    return TokenMade(token=token, **TokenPublic.of(record).model_dump())


def _maker(who: Identity, body: TokenCreate, request: Request) -> tuple[Identity, str]:
    """The credential a token is made with, and the token's kind. A browser sends a session's
    cookie to every port of its host, where another program may listen: a session, or a
    token it made, makes a token that ends with the session, unless its user gives their
    password again (a user without one, as the first start's admin, cannot)."""
    if who.kind != BY_SESSION:
        return who, "api"
    if body.password is None:
        return who, BY_SESSION
    logins: Logins = request.app.state.logins
    try:
        logins.sign_in(who.user, body.password, client_address(request))
    except CredentialError:
        raise PermissionDeniedError(
            f"{who.user}: a wrong password asked again for a token",
            public="not your password: give yours for a token that outlives this session, "
            "or none for one that ends with it",
        ) from None
    return who._replace(expires_at=None), "api"


@router.delete("/tokens/{prefix}", dependencies=[READ], status_code=status.HTTP_204_NO_CONTENT,
               responses=ERRORS)  # fmt: skip
def revoke_token(
    prefix: Annotated[str, Path(pattern="^[0-9a-f]{12}$")], who: Reader, request: Request,
    store: ServerStoreDep,
) -> None:  # fmt: skip
    """Revoke one of the caller's tokens for this project, at most at the calling
    credential's role (404 for another's, or one above it)."""
    found = store.find_token(prefix)
    if (
        found is None
        or (found.user, found.project) != (who.user, who.project)
        or not at_most(found.role, who.role)
    ):
        raise NotFoundError(f"no token {prefix} of {who.user}'s in {who.project}")
    store.revoke_token(prefix)
    store.audit(
        who.user, "token.revoke", prefix, project=who.project, address=client_address(request)
    )


def _keep_an_admin(store: Access, project: str, user: str) -> None:
    admins = [u for u, role in store.list_members(project) if role == "admin"]
    if admins == [user]:
        raise ConflictError(f"{user} is {project}'s last admin: make another admin first")
