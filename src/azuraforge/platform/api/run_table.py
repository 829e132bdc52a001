"""A list of runs as CSV: the runs a listing's filters keep, in its order, with the columns
asked (fields, ``metric:<key>``, ``score:<name>`` or a bare score name), streamed page by
page so that a large list never sits in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from azuraforge.platform.store import ExperimentQuery, ExperimentRecord, Page, Store
from azuraforge.platform.store.experiments import MAX_PAGE, QueryError

FIELDS = ("id", "name", "pipeline", "group", "kind", "status", "progress", "created_at",
          "started_at", "finished_at", "worker", "batch_id", "error")  # fmt: skip
"""The fields of a run a column may name."""
DEFAULT_FIELDS = ("id", "name", "pipeline", "status", "created_at", "finished_at")
"""The fields of a CSV that names no columns (then every score of the project follows)."""
TIMES = frozenset({"created_at", "started_at", "finished_at"})
"""Fields written as ISO 8601 times in UTC."""
MAX_COLUMNS = 200
"""Most columns of one CSV (asked, or the project's scores by default)."""
MAX_ROWS = 100_000
"""Most runs one CSV holds: the first ones in the list's order."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting so is prefixed with ``'``: a spreadsheet would run it as a formula."""


def wants_csv(format_: str | None, accept: str | None) -> bool:
    """Whether a list is asked as CSV: ``format=csv``, or ``Accept: text/csv`` without a
    ``format`` (which then wins)."""
    if format_ is not None:
        return format_ == "csv"
    return accept is not None and "text/csv" in accept.lower()


def column_keys(names: Sequence[str], scores: Sequence[str]) -> list[str]:
    """The columns of a CSV: ``names`` as asked (a bare name that is no field is a score's),
    or by default :data:`DEFAULT_FIELDS` and ``score:<name>`` for each of ``scores``.

    Raises
    ------
    QueryError
        On ``columns``: too many, or one empty or named twice.
    """
    if not names:
        keys = [*DEFAULT_FIELDS, *(f"score:{name}" for name in scores)]
        return keys[:MAX_COLUMNS]
    if len(names) > MAX_COLUMNS:
        raise QueryError("columns", f"at most {MAX_COLUMNS} columns, got {len(names)}")
    keys = []
    for name in (n.strip() for n in names):
        if not name or name in ("metric:", "score:"):
            raise QueryError("columns", f"a column has no name in {','.join(names)!r}")
        keys.append(name if name in FIELDS or name.startswith(("metric:", "score:"))
                    else f"score:{name}")  # fmt: skip
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise QueryError("columns", f"column {twice[0]!r} is asked twice")
    return keys


async def csv_response(store: Store, query: ExperimentQuery, names: Sequence[str]) -> Any:
    """The CSV of the runs ``query`` keeps (its page aside: every run, at most
    :data:`MAX_ROWS`), with the columns ``names`` (see :func:`column_keys`). The query is
    checked, and its first page read, before the answer starts: a bad one is a 422.

    Raises
    ------
    QueryError
        Naming the query parameter at fault.
    """
    pages = replace(query, offset=0, limit=MAX_PAGE)
    first = await run_in_threadpool(store.list_experiments, pages)
    scores = [] if names else await run_in_threadpool(store.list_score_names)
    keys = column_keys(names, scores)
    return StreamingResponse(
        _lines(store, pages, first, keys),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="runs.csv"'},
    )


def _lines(store: Store, query: ExperimentQuery, page: Page, keys: list[str]) -> Iterator[str]:
    """The CSV's header, then its rows a page at a time (read as they are sent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(key.removeprefix("score:") for key in keys)
    written = 0
    while True:
        rows = page.items[: MAX_ROWS - written]
        writer.writerows([_cell(run, key) for key in keys] for run in rows)
        written += len(rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(page.items) < query.limit or written >= MAX_ROWS:
            return
        query = replace(query, offset=query.offset + query.limit)
        page = store.list_experiments(query)


def _cell(run: ExperimentRecord, key: str) -> Any:
    """The value of column ``key`` for ``run``: empty when it has none."""
    if key.startswith("score:"):
        return run.scores.get(key[6:], "")
    if key.startswith("metric:"):
        return run.metrics.get(key[7:], "")
    value = getattr(run, key)
    if value is None:
        return ""
    if key in TIMES:
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
