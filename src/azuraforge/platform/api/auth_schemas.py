"""The answers of ``/auth`` (:mod:`~azuraforge.platform.api.routes.auth`): who the caller
is, and the projects they may work in."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
