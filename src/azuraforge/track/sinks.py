"""Where a tracked run is written: a server's API (:class:`ServerSink`, through
:mod:`azuraforge.client`), or with no server configured the embedded store
(:class:`~azuraforge.track.embedded.StoreSink`, which imports the platform: loaded only then).

A sink raises :class:`SinkUnreachableError` for what may pass (the server away, busy, or failing),
after which the same call is made again later, and :class:`SinkRefusedError` for what will not
(the run ended or lost, its credential expired, a batch the server cannot keep)."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from azuraforge.errors import (
    AzuraForgeError,
    InvalidParameterError,
    StoreUnavailableError,
    TooManyRequestsError,
)
from azuraforge.track.spool import Batch

TIMEOUT = 10.0
"""Seconds a request of the tracking client may take before it counts as unanswered."""


class SinkUnreachableError(Exception):
    """The sink cannot take the call now; try again later (nothing was lost)."""


class SinkRefusedError(Exception):
    """The sink will never take the call: the run is over (``run_over``: ended, lost, its
    credential expired or refused), or this call is wrong (a batch the server cannot keep)."""

    def __init__(self, message: str, *, run_over: bool = True) -> None:
        super().__init__(message)
        self.run_over = run_over


class Sink(Protocol):
    """What a tracked run is written through, by its sender thread."""

    where: str
    """Where, said in the log (``http://host:8000``, ``sqlite:///...``)."""

    def create(
        self, pipeline: str, params: dict[str, Any], name: str | None, idle_limit: float | None
    ) -> tuple[int, float]:
        """Make the run; its id and idle limit (seconds)."""

    def send(self, batch: Batch) -> bool:
        """Write ``batch`` (once, by its id); whether someone asked the run to stop."""

    def address(self) -> dict[str, Any]:
        """How to reach the run again from another process (kept in the spool's
        ``run.meta``): where, and the run's credential once it is made."""

    def resume(self, run_id: int, address: dict[str, Any], idle_limit: float) -> None:
        """Write the run ``run_id`` made by another process, reached as ``address`` says."""

    def heartbeat(self) -> bool:
        """Keep the run alive; whether someone asked it to stop."""

    def end(self, status: str, error: str | None, result: dict[str, Any] | None) -> None:
        """End the run."""

    def close(self) -> None:
        """Free what the sink holds."""


def classified(error: AzuraForgeError) -> Exception:
    """:class:`SinkUnreachableError` for an error that may pass (no answer, 503, 429, a 5xx),
    else :class:`SinkRefusedError`, saying what it was."""
    passing = isinstance(error, StoreUnavailableError | TooManyRequestsError)
    if passing or type(error) is AzuraForgeError:
        return SinkUnreachableError(str(error))
    wrong = isinstance(error, InvalidParameterError)  # 400, 413, 422: this call alone
    return SinkRefusedError(f"{type(error).__name__}: {error}", run_over=not wrong)


class ServerSink:
    """A run written to the AzuraForge API at ``url`` with ``token`` (an editor's or an
    admin's) in ``project``, then with the run's own credential (an external run)."""

    def __init__(self, url: str, token: str | None, project: str | None) -> None:
        from azuraforge.client import Client  # here: a missing package is said at the start

        self.where, self.token, self.project = url, token, project
        self._make_client = Client
        self._client: Any = None
        self.run: Any = None

    @property
    def client(self) -> Any:
        """The API client of the token, made when first needed (a run another process made
        is written with its credential alone, unless it has tags or notes to set)."""
        if self._client is None:
            self._client = self._make_client(self.where, token=self.token, project=self.project,
                                             timeout=TIMEOUT)  # fmt: skip
        return self._client

    def create(
        self, pipeline: str, params: dict[str, Any], name: str | None, idle_limit: float | None
    ) -> tuple[int, float]:
        try:
            self.run = self.client.runs.start_external(
                pipeline, params, name=name, idle_limit=idle_limit
            )
        except AzuraForgeError as e:
            raise classified(e) from None
        return self.run.id, self.run.idle_limit

    def send(self, batch: Batch) -> bool:
        try:
            if batch.file is not None and batch.name is not None:
                self.run.upload(batch.name, batch.file)
                return False
            if batch.tags is not None or batch.notes is not None:
                self._describe(batch)
                return False
            return bool(
                self.run.send(
                    batch.points, batch.lines, progress=batch.progress, batch_id=batch.batch_id
                )
            )
        except AzuraForgeError as e:
            raise classified(e) from None

    def _describe(self, batch: Batch) -> None:
        """Set the run's tags or notes with the token that made the run (they are a user's,
        not the run's writes): refused, they are not set, and the run goes on."""
        try:
            for key, value in (batch.tags or {}).items():
                self.client.session.request(
                    "PUT", f"/runs/{self.run.id}/tags/{quote(key)}", json={"value": value}
                )
            if batch.notes is not None:
                body = {"notes": batch.notes}
                self.client.session.request("PATCH", f"/runs/{self.run.id}", json=body)
        except AzuraForgeError as e:
            error = classified(e)
            if isinstance(error, SinkRefusedError):
                error.run_over = False
            raise error from None

    def address(self) -> dict[str, Any]:
        credential = None
        if self.run is not None:
            credential = self.run.session.headers["Authorization"].removeprefix("Bearer ")
        return {"kind": "server", "url": self.where, "project": self.project,
                "credential": credential}  # fmt: skip

    def resume(self, run_id: int, address: dict[str, Any], idle_limit: float) -> None:
        from azuraforge.client.external import ExternalRun

        made = {"experiment": {"id": run_id}, "idle_limit": idle_limit,
                "credential": address.get("credential") or self.token}  # fmt: skip
        self.run = ExternalRun(self.where, made, timeout=TIMEOUT)

    def heartbeat(self) -> bool:
        try:
            return bool(self.run.heartbeat())
        except AzuraForgeError as e:
            raise classified(e) from None

    def end(self, status: str, error: str | None, result: dict[str, Any] | None) -> None:
        try:
            self.run.end(status, error=error, result=result)
        except AzuraForgeError as e:
            raise classified(e) from None

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
        if self._client is not None:
            self._client.close()
