"""Any list of the API as CSV, as the run list gives it: ``format=csv`` (or ``Accept:
text/csv`` without a ``format``) answers every item the list's filters keep, in its order, its
page aside, streamed page by page so that a large list never sits in memory; ``columns=``
picks the columns (the fields of the list's items; all by default). Times (``*_at``) are ISO
8601 in UTC, objects and lists JSON, a text a spreadsheet would run as a formula starts with
``'``. A list adds it with :func:`csv_of` (its parameters) and :func:`list_csv`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from inspect import Parameter, Signature
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, StringConstraints

from azuraforge.platform.api.deps import comma_separated
from azuraforge.platform.api.schemas.common import Page
from azuraforge.platform.store.experiment_query import MAX_PAGE

MAX_ROWS = 100_000
"""Most items one CSV holds: the first ones in the list's order."""
MAX_COLUMNS = 200
"""Most columns one CSV names."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting so is prefixed with ``'``: a spreadsheet would run it as a formula."""
ROWS_A_CHUNK = 500
"""Rows written into one chunk of the answer."""

Read = Callable[[int, int], Sequence[Any]]
"""A list's page: ``read(offset, limit)`` gives its items there, in its order."""


def wants_csv(format_: str | None, accept: str | None) -> bool:
    """Whether a list is asked as CSV: ``format=csv``, or ``Accept: text/csv`` without a
    ``format`` (which then wins)."""
    if format_ is not None:
        return format_ == "csv"
    return accept is not None and "text/csv" in accept.lower()


@dataclass(frozen=True)
class CsvAsked:
    """A list of ``item`` asked as CSV, with the columns named (none: every field)."""

    item: type[BaseModel]
    columns: list[str]


def csv_of(item: type[BaseModel]) -> Any:
    """The parameters of a list of ``item`` that may be asked as CSV, as a dependency giving
    :class:`CsvAsked` (or None for the JSON page): ``format``, ``Accept`` and ``columns``,
    whose pattern declares the fields of ``item`` (the OpenAPI says which columns there are;
    another name is a 422 naming ``columns``). A route takes it as ``csv: Annotated[CsvAsked
    | None, csv_of(Item)]``."""
    one = "|".join(item.model_fields)
    column_list = Annotated[
        str, StringConstraints(pattern=f"^(?:{one})(?:,(?:{one}))*$", max_length=2000)
    ]
    parameters = [
        Parameter("format_", Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            str | None,
            Query(alias="format", pattern="^(json|csv)$", description="csv: every item as CSV."),
        ]),
        Parameter("columns", Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            list[column_list] | None,
            Query(max_length=MAX_COLUMNS, description="The CSV's columns, fields of the items: "
                  "repeat or comma-separate; all by default."),
        ]),
        Parameter("accept", Parameter.KEYWORD_ONLY, default=None,
                  annotation=Annotated[str | None, Header(include_in_schema=False)]),
    ]  # fmt: skip

    def asked(
        format_: str | None = None, columns: list[str] | None = None, accept: str | None = None
    ) -> CsvAsked | None:
        if not wants_csv(format_, accept):
            return None
        return CsvAsked(item, comma_separated(columns))

    asked.__signature__ = Signature(parameters)  # type: ignore[attr-defined]
    return Depends(asked)


def csv_responses(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a list that may be CSV (with its JSON ``response_model``)."""
    return {200: {"content": {"text/csv": {}}, "description": what}}


def list_csv(read: Read, asked: CsvAsked, filename: str) -> StreamingResponse:
    """The CSV of the items ``read`` gives (instances of ``asked.item``), every page from the
    first (at most :data:`MAX_ROWS`), with the columns asked (every field of the item when
    none is). The first page is read before the answer starts: its errors are the list's."""
    keys = asked.columns or list(asked.item.model_fields)
    first = read(0, MAX_PAGE)
    dumped = (one.model_dump(mode="json", include=set(keys)) for one in paged(read, first))
    rows = ([cell(key, fields[key]) for key in keys] for fields in dumped)
    return csv_answer(keys, rows, filename)


Listed = TypeVar("Listed", bound=Page[Any])
ReadPage = Callable[[int, int], tuple[Sequence[Any], int]]
"""A list's page and its total: ``page(offset, limit)`` gives its items there and how many
the list holds."""


def page_or_csv(
    page: ReadPage, asked: CsvAsked | None, filename: str, listed: type[Listed], offset: int,
    limit: int,
) -> Listed | StreamingResponse:  # fmt: skip
    """A list's answer: every item as the CSV ``filename`` when ``asked``, else the page at
    ``offset`` as the page ``listed``."""
    if asked:
        return list_csv(lambda o, n: page(o, n)[0], asked, filename)
    data, total = page(offset, limit)
    return listed(data=data, total=total, offset=offset, limit=limit)


def paged(read: Read, first: Sequence[Any]) -> Iterator[Any]:
    """The items of ``first`` (the page at offset 0, :data:`MAX_PAGE` long) and of the pages
    after it, read as they are sent, :data:`MAX_ROWS` at most."""
    page, offset, sent = first, 0, 0
    while True:
        kept = page[: MAX_ROWS - sent]
        yield from kept
        sent += len(kept)
        if len(page) < MAX_PAGE or sent >= MAX_ROWS:
            return
        offset += MAX_PAGE
        page = read(offset, MAX_PAGE)


def csv_answer(
    header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str
) -> StreamingResponse:
    """A streamed ``text/csv`` download of ``header`` then ``rows``, a chunk of
    :data:`ROWS_A_CHUNK` rows at a time (read as they are sent)."""
    return StreamingResponse(
        _chunks(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow(row)
        if n % ROWS_A_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def cell(key: str, value: Any) -> Any:
    """What a CSV holds for field ``key`` of value ``value``: empty for None, a time
    (``*_at``) in ISO 8601 UTC, an object or list as JSON, a formula-like text quoted."""
    if value is None:
        return ""
    if key.endswith("_at") and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
    if isinstance(value, dict | list | tuple):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
