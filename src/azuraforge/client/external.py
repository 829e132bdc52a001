"""A run written from outside the platform (an external run): made with
:meth:`~azuraforge.client.Runs.start_external`, then written with its own credential, which
writes that run alone: batches of metrics, log lines and progress, its files, its end."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from azuraforge.client.session import Session

Point = tuple[str, int, float, float]
"""(key, step, value, time) of one metric value."""
Line = tuple[float, str, str]
"""(time, level, message) of one log line."""


class ExternalRun:
    """A run the API made to be written from here, and the session that writes it with the
    run's own credential (``Authorization: Bearer afr_...``), which the API answered once.

    Every write keeps the run alive its idle limit (``idle_limit`` seconds) more; a run with
    no word for longer is ended lost by the server, and its credential refused. Close it, or
    use it as a context manager, to free the session's connections (ending the run is
    :meth:`end`'s).

    Raises
    ------
    AzuraForgeError
        From each method, as :class:`~azuraforge.client.Session` raises them: a
        ``ConflictError`` once the run ended (409), a ``CredentialError`` once its credential
        expired (401), a ``StoreUnavailableError`` while the API cannot be reached.
    """

    def __init__(self, url: str, answer: dict[str, Any], *, timeout: float = 30.0) -> None:
        self.record: dict[str, Any] = answer["experiment"]
        """The run as the API made it (``ExperimentPublic``)."""
        self.id: int = int(self.record["id"])
        self.idle_limit: float = float(answer["idle_limit"])
        self.session = Session(url, token=answer["credential"], timeout=timeout, login_hint=False)

    def send(
        self, points: Sequence[Point] = (), lines: Sequence[Line] = (),
        files: Sequence[tuple[str, int, bool]] = (), progress: tuple[int, int, str] | None = None,
        *, batch_id: str | None = None,
    ) -> bool:  # fmt: skip
        """Write a batch of the run's metric ``points``, log ``lines``, ``files`` it made
        (path inside its files, size, is a folder) and ``progress`` (done, total, message),
        in one transaction; whether someone asked the run to stop. Nothing to send is a
        heartbeat. With a ``batch_id`` (1 to 64 of ``A-Za-z0-9_.:-``, unique in the run),
        sending the batch again writes nothing twice: retry with the same id when an answer
        was lost."""
        body: dict[str, Any] = {
            "batch_id": batch_id,
            "metrics": [{"key": k, "step": s, "value": v, "time": t} for k, s, v, t in points],
            "logs": [{"time": t, "level": level, "message": m} for t, level, m in lines],
            "artifacts": [{"path": p, "size": n, "is_dir": d} for p, n, d in files],
        }
        if progress is not None:
            body["progress"] = dict(zip(("done", "total", "message"), progress, strict=True))
        answer = self.session.request("POST", f"/runs/{self.id}/batch", json=body)
        return bool(answer["cancel_requested"])

    def heartbeat(self) -> bool:
        """Keep the run alive its idle limit from now, writing nothing; whether someone asked
        it to stop."""
        answer = self.session.request("POST", f"/runs/{self.id}/heartbeat")
        return bool(answer["cancel_requested"])

    def upload(self, path: str, file: str | os.PathLike[str]) -> dict[str, Any]:
        """Upload the local ``file`` (streamed) as the run's file ``path`` (``plots/loss.png``);
        the file as recorded (``ArtifactPublic``)."""
        with open(file, "rb") as content:
            answer = self.session.request(
                "PUT", f"/runs/{self.id}/artifacts/{quote(path)}", content=content,
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
        return dict(answer)

    def end(
        self, status: str = "completed", *, error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """End the run as ``status`` (``completed``, ``failed`` with ``error``, or
        ``cancelled``) with its ``result`` (test scores under ``metrics``...); the run as it
        ended. A run ended already: ``ConflictError``."""
        body = {"status": status, "error": error, "result": result}
        return dict(self.session.request("POST", f"/runs/{self.id}/end", json=body))

    def close(self) -> None:
        """Free the session's connections."""
        self.session.close()

    def __enter__(self) -> ExternalRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
