"""Runs through the API (``/runs``): queue, list, read,
follow, rename and note, cancel, delete, compare."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from azuraforge.client.external import ExternalRun
from azuraforge.client.session import Items, Page, Session, without_none
from azuraforge.errors import StoreUnavailableError

SORT_COLUMNS = ("id", "name", "pipeline", "status", "progress", "created_at", "started_at",
                "finished_at")  # fmt: skip
"""The columns the API sorts runs by (besides ``metric:<key>`` and ``score:<name>``)."""
QUERY_NAMES = {"batch": "batch_id", "search": "q", "minimum": "metric_min",
               "maximum": "metric_max", "where": "score"}  # fmt: skip
"""The query parameter of ``GET /runs`` for each filter of :meth:`Runs.list` named
otherwise: the aliases of the server's ``RunFilter``, whose fields are named as
:meth:`Runs.list`'s filters (the client imports no pydantic: a test keeps them alike)."""


class Runs:
    """The runs of the session's project. Objects are the API's JSON (``ExperimentPublic``,
    ``ExperimentDetail``...), as dicts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def submit(
        self, pipeline: str, config: dict[str, Any] | None = None, *, name: str | None = None,
        grid: dict[str, list[Any]] | None = None,
    ) -> Items:  # fmt: skip
        """Queue one run of ``pipeline`` with ``config`` (its defaults fill the rest), or
        with ``grid`` one per combination of its value lists (a batch); the runs queued.

        Raises
        ------
        InvalidParameterError
            For an unknown pipeline or a config it refuses, naming each field; nothing is
            queued then.
        ConflictError
            When ``name`` is taken.
        """
        body: dict[str, Any] = {"pipeline": pipeline, "config": config or {}, "name": name}
        if grid:
            body["grid"] = grid
        return list(self.session.request("POST", "/runs", json=body)["data"])

    def start_external(
        self, pipeline: str = "external", params: dict[str, Any] | None = None, *,
        name: str | None = None, idle_limit: float | None = None,
    ) -> ExternalRun:  # fmt: skip
        """Make a run written from here rather than by a worker (an external run: your own
        code's), running from now, named after ``pipeline`` (what made it) with its
        parameters ``params`` (kept as its config); the run, to write with its own
        credential. Each write keeps it
        alive ``idle_limit`` seconds (default: the server's ``run_idle_limit``); past them
        without one, the server ends it lost.

        Raises
        ------
        ConflictError
            When ``name`` is taken.
        InvalidParameterError
            For an ``idle_limit`` out of bounds (1 s to 7 days).
        """
        body = {"pipeline": pipeline, "params": params or {}, "name": name,
                "idle_limit": idle_limit}  # fmt: skip
        answer = self.session.request("POST", "/external-runs", json=body)
        return ExternalRun(self.session.url, answer, timeout=self.session.timeout)

    def list(
        self, *, status: str | Sequence[str] | None = None, pipeline: str | None = None,
        batch: str | None = None, search: str | None = None, metric: str | None = None,
        minimum: float | None = None, maximum: float | None = None, sort: str = "id",
        ascending: bool = False, limit: int = 50, offset: int = 0,
        where: str | Sequence[str] | None = None, group: str | None = None,
        tag: str | Sequence[str] | None = None,
    ) -> Page:  # fmt: skip
        """A page of runs, newest first (or by ``sort``: a column, ``metric:<key>`` for a
        metric's last value, or ``score:<name>`` for a number of the run's result).

        Parameters
        ----------
        status
            Only runs in these statuses (a list, or comma-separated).
        pipeline, batch
            Only this pipeline's runs, or this batch's (a grid's runs).
        search
            Text in the name or the pipeline.
        metric, minimum, maximum
            Only runs whose last ``metric`` value lies in ``[minimum, maximum]``.
        limit, offset
            The page: at most 500 runs, from the ``offset``-th.
        where
            Only runs passing each of these filters ``<name><op><number>`` (op one of
            ``< <= > >= =``) on a score (``metrics.MAE.model<0.5``) or, named
            ``metric:<key>``, a metric's last value.
        group
            Only this group's runs: an MLflow experiment's name, or a tracked run's
            ``experiment``.
        tag
            Only runs with each of these tags, ``key:value``.
        """
        return self.session.page("/runs", self._query(locals()))  # the options above

    def export(self, columns: str | Sequence[str] | None = None, **filters: Any) -> Iterator[str]:
        """Every run that :meth:`list` with ``filters`` (its page aside) finds, as CSV text
        piece by piece, with ``columns``: fields (``id``, ``name``, ``status``...),
        ``metric:<key>``, ``score:<name>`` or a bare score name (default: the main fields and
        every score)."""
        query = {**self._query(filters), "format": "csv", "columns": columns}
        query.pop("limit", None)
        query.pop("offset", None)
        return self.session.text("/runs", query)

    def score_names(self) -> Sequence[str]:
        """The names of the scores the project's runs have (the numbers of their results by
        dotted path: ``metrics.MAE.model``), in order."""
        return list(self.session.request("GET", "/runs/scores/names")["names"])

    def each(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every run that :meth:`list` with ``filters`` (without ``limit``) finds, page after
        page."""
        return self.session.each("/runs", self._query(filters))

    def get(self, run_id: int) -> dict[str, Any]:
        """One run whole: status, lease, config, scores beside baselines, files.

        Raises
        ------
        NotFoundError
            When the project has no run ``run_id``.
        """
        return dict(self.session.request("GET", f"/runs/{run_id}"))

    def events(self, run_id: int) -> Iterator[dict[str, Any]]:
        """The run's event messages as they come (``history`` first, then ``progress``,
        ``metrics``, ``log``... and ``end`` with its final ``status``), until the API closes
        the stream (needs the ``websockets`` package).

        Raises
        ------
        StoreUnavailableError
            When the stream cannot be opened or breaks, naming the run.
        """
        try:
            yield from self.session.messages(f"/runs/{run_id}/events")
        except StoreUnavailableError as e:
            raise StoreUnavailableError(f"the event stream of run {run_id}: {e}") from None

    def cancel(self, run_id: int) -> dict[str, Any]:
        """Cancel a queued run at once, a running one at its next step (its metrics so far
        are kept); the run as it stands (``running`` while it stops)."""
        return dict(self.session.request("POST", f"/runs/{run_id}/cancel"))

    def delete(self, run_id: int) -> None:
        """Delete a finished or queued run with its metrics and files (a running one:
        :class:`ConflictError`; cancel it first)."""
        self.session.request("DELETE", f"/runs/{run_id}")

    def rename(self, run_id: int, name: str) -> dict[str, Any]:
        """Rename a run, whatever its status; the run whole.

        Raises
        ------
        ConflictError
            When another run of the project has ``name``.
        InvalidParameterError
            For a name of no character, or too long.
        """
        return self._edit(run_id, {"name": name})

    def note(self, run_id: int, text: str) -> dict[str, Any]:
        """Set a run's notes to ``text`` (plain text, replacing those it has; ``""`` clears
        them), whatever its status; the run whole (its ``notes``).

        Raises
        ------
        InvalidParameterError
            For notes over 10,000 characters.
        """
        return self._edit(run_id, {"notes": text})

    def tag(self, run_id: int, tags: Mapping[str, str]) -> dict[str, str]:
        """Set the run's ``tags`` (a key it has gets the new value), whatever its status;
        its tags then.

        Raises
        ------
        InvalidParameterError
            For a key of no character or over 250, a value over 8,000 characters.
        """
        found: dict[str, str] = {}
        for key, value in tags.items():
            answer = self.session.request("PUT", f"/runs/{run_id}/tags/{quote(key)}",
                                          json={"value": value})  # fmt: skip
            found = dict(answer["tags"])
        return found

    def untag(self, run_id: int, key: str) -> dict[str, str]:
        """Delete the run's tag ``key``; its tags then.

        Raises
        ------
        NotFoundError
            When the run has no tag ``key``.
        """
        answer = self.session.request("DELETE", f"/runs/{run_id}/tags/{quote(key)}")
        return dict(answer["tags"])

    def _edit(self, run_id: int, changes: dict[str, str]) -> dict[str, Any]:
        return dict(self.session.request("PATCH", f"/runs/{run_id}", json=changes))

    def compare(
        self, runs: str | Sequence[int] | None = None, *, batch: str | None = None,
        study: int | None = None, metrics: str | Sequence[str] | None = None,
        scores: str | Sequence[str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Up to 100 runs side by side, named by exactly one of ``runs`` (ids, or
        ``"1,2,3"``), ``batch`` or ``study``: curves, the settings that differ, the last
        value of ``metrics`` (default: those the runs share) and ``scores`` (default: none)."""
        params = {"experiments": runs, "batch": batch, "study": study, "metrics": metrics,
                  "scores": scores}  # fmt: skip
        return dict(self.session.request("GET", "/compare", params=without_none(params)))

    @staticmethod
    def _query(options: dict[str, Any]) -> dict[str, Any]:
        """The API's query parameters for :meth:`list`'s options."""
        query = {QUERY_NAMES.get(key, key): value for key, value in options.items()
                 if key != "self"}  # fmt: skip
        if "ascending" in query:
            query["order"] = "asc" if query.pop("ascending") else "desc"
        return query
