"""What the bodies of every resource share: a request body's strictness, a page of a list
(:class:`Page`), and the error body every route answers with (:func:`error_responses`)."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from azuraforge.platform.services.validation import as_json_numbers


class RequestBody(BaseModel):
    """A request body: an unknown field is refused, and a value must be of its declared JSON
    type (``true`` is no 1, ``"3"`` no 3; 3.0 is 3), as its OpenAPI says."""

    model_config = ConfigDict(extra="forbid", strict=True)
    verbatim: ClassVar[frozenset[str]] = frozenset()
    """Fields of free-form values passed on as sent, not walked here: their reader takes a
    whole float as the integer it is (a predict request's rows: 312 values for one
    forecast)."""

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        if not cls.verbatim or not isinstance(data, dict):
            return as_json_numbers(data)
        return {k: v if k in cls.verbatim else as_json_numbers(v) for k, v in data.items()}


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """A page of a list: at most ``limit`` of its items from the ``offset``-th, and how many
    it holds in all. Each list declares its own, ``class StudiesPublic(Page[StudyListed])``:
    its OpenAPI schema is then named after it (``StudiesPublic``, not
    ``Page_StudyListed_``)."""

    data: list[Item]
    total: int
    offset: int
    limit: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorPublic(BaseModel):
    error: ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route whose errors are :class:`ErrorPublic` bodies, for
    ``codes`` (default: every client error a route of the API may answer, and 503)."""
    return {code: {"model": ErrorPublic} for code in codes or (400, 404, 409, 413, 422, 503)}
