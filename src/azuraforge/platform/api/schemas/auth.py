"""Bodies of ``/auth`` (:mod:`~azuraforge.platform.api.routes.auth`): a sign-in, a project to
work in or to create; who the caller is, and the projects they may work in."""

from __future__ import annotations

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.common import RequestBody
from azuraforge.platform.services.access import NAME_PATTERN
from azuraforge.platform.store import DEFAULT_PROJECT


class ProjectPublic(BaseModel):
    """A project the caller may work in."""

    name: str
    role: str = Field(description="The caller's role there: viewer, editor or admin.")
    active: bool = Field(description="Whether the credential is for it now.")


class Caller(BaseModel):
    """Who the credential says the caller is, and in which project with which role."""

    user: str
    project: str
    role: str = Field(description="viewer, editor or admin.")


class SignIn(RequestBody):
    """A user's name and password, and the project to work in."""

    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    project: str = Field(DEFAULT_PROJECT, min_length=1, max_length=100)


class ProjectChoice(RequestBody):
    """The project to work in."""

    project: str = Field(min_length=1, max_length=100)


class NewProject(RequestBody):
    """A project to create."""

    project: str = Field(pattern=NAME_PATTERN, max_length=100,
                         description="Letters, digits, '_', '.', '-' (not first).")  # fmt: skip
