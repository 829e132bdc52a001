"""Bodies of ``/access`` (:mod:`~azuraforge.platform.api.routes.access`): a project's members
and their roles, and API tokens (made, listed, never their secret but once)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.common import RequestBody
from azuraforge.platform.services.access import MAX_LIFE
from azuraforge.platform.store import TokenRecord

Role = Literal["viewer", "editor", "admin"]


class Member(BaseModel):
    user: str
    role: Role


class MemberRole(RequestBody):
    role: Role


class TokenCreate(RequestBody):
    """A token of the caller's for this project."""

    name: str = Field("", max_length=100, description="What it is for.")
    role: Role = Field("viewer", description="At most the role of the credential making it.")
    expires_in_days: float | None = Field(
        None, gt=0, le=MAX_LIFE / 86_400,
        description="Days it lasts: 90 unless said, and never past a token making it.",
    )  # fmt: skip
    password: str | None = Field(
        None, min_length=1, max_length=1000,
        description="For a browser session: its user's password, asked again for a token "
        "that outlives the session; without it, the token ends with the session.",
    )  # fmt: skip


class TokenPublic(BaseModel):
    """A token as stored: never its secret."""

    prefix: str
    name: str
    role: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    kind: str = Field(
        description="api, or session: made by a browser session without the "
        "password again, it ends with that session (its end, or signing out)."
    )

    @classmethod
    def of(cls, record: TokenRecord) -> TokenPublic:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class TokenMade(TokenPublic):
    token: str = Field(description="The token itself: shown this once, never again.")
