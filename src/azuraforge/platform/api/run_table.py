"""A list of runs as CSV: the runs a listing's filters keep, in its order, with the columns
asked (fields, ``metric:<key>``, ``score:<name>`` or a bare score name), streamed page by
page so that a large list never sits in memory (the other lists' CSV: :mod:`.list_csv`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fastapi.concurrency import run_in_threadpool

from azuraforge.platform.api.list_csv import MAX_COLUMNS, cell, csv_answer, paged
from azuraforge.platform.store import ExperimentQuery, ExperimentRecord
from azuraforge.platform.store.experiment_query import MAX_PAGE, QueryError
from azuraforge.platform.store.interfaces import Runs

FIELDS = ("id", "name", "pipeline", "group", "kind", "status", "progress", "created_at",
          "started_at", "finished_at", "worker", "batch_id", "error")  # fmt: skip
"""The fields of a run a column may name."""
DEFAULT_FIELDS = ("id", "name", "pipeline", "status", "created_at", "finished_at")
"""The fields of a CSV that names no columns (then every score of the project follows)."""


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
    keys = [_column_key(name.strip(), names) for name in names]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise QueryError("columns", f"column {twice[0]!r} is asked twice")
    return keys


def _column_key(name: str, names: Sequence[str]) -> str:
    """The column ``name`` (one of ``names``, stripped) names: a field, a metric's or a
    score's."""
    if not name or name in ("metric:", "score:"):
        raise QueryError("columns", f"a column has no name in {','.join(names)!r}")
    if name in FIELDS or name.startswith(("metric:", "score:")):
        return name
    return f"score:{name}"


async def csv_response(store: Runs, query: ExperimentQuery, names: Sequence[str]) -> Any:
    """The CSV of the runs ``query`` keeps (its page aside: every run, at most
    :data:`MAX_ROWS`), with the columns ``names`` (see :func:`column_keys`). The query is
    checked, and its first page read, before the answer starts: a bad one is a 422.

    Raises
    ------
    QueryError
        Naming the query parameter at fault.
    """

    def read(offset: int, limit: int) -> list[ExperimentRecord]:
        return store.list_experiments(replace(query, offset=offset, limit=limit)).items

    first = await run_in_threadpool(read, 0, MAX_PAGE)
    scores = [] if names else await run_in_threadpool(store.list_score_names)
    keys = column_keys(names, scores)
    rows = ([_cell(run, key) for key in keys] for run in paged(read, first))
    return csv_answer([key.removeprefix("score:") for key in keys], rows, "runs.csv")


def _cell(run: ExperimentRecord, key: str) -> Any:
    """The value of column ``key`` for ``run``: empty when it has none."""
    if key.startswith("score:"):
        return run.scores.get(key[6:], "")
    if key.startswith("metric:"):
        return run.metrics.get(key[7:], "")
    return cell(key, getattr(run, key))
