"""External runs: runs that no worker executes, written from outside the platform (a user's own
code over HTTP, ``azuraforge run``'s recording, later an MLflow client), by a credential of
their own.

A run is made with :func:`start_external_run`: stored running, of kind ``external``
(:class:`ExternalKind`: listed as a run, never claimed by a worker), with a **run credential**
handed to its writer once: ``afr_`` and 43 characters (256 random bits), of which the store
keeps the SHA-256 alone. The credential writes that run and nothing else: its metrics, logs,
progress, files and its end (the API's ``may_write_run`` permission); it reads nothing. It
is good while its run runs and has had word from its writer within the run's idle limit:
each write, an empty one too (a heartbeat), keeps the run alive that many seconds more; past
them the reaper ends the run ``lost`` and the credential is refused (401). A run its writer
ended takes no more writes (409), whoever sends them. A project's API token with the write
permission (editor, admin) may write the run too, as an MLflow client does with the token it
is given.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from azuraforge.errors import ConflictError, CredentialError, InvalidParameterError
from azuraforge.platform.jobs.context import RunWriter, StoreContext
from azuraforge.platform.jobs.kinds import JobKind
from azuraforge.platform.jobs.queueing import NewJob, enqueue
from azuraforge.platform.services.access import Identity
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, JobWrites
from azuraforge.platform.store.interfaces import Access, ProjectView, Runs
from azuraforge.platform.store.states import LOST

EXTERNAL = "external"
"""The kind of a run that no worker executes."""
CREDENTIAL = re.compile(r"afr_[A-Za-z0-9_-]{43}")
"""A run credential as :func:`new_credential` writes it."""
MIN_IDLE_LIMIT, MAX_IDLE_LIMIT = 1.0, 7 * 86_400.0
"""The shortest and the longest idle limit a run may ask for (seconds)."""
UNKNOWN = "not a run credential of this server (afr_...), or one of a run since deleted"
"""What a credential of no run is told."""
WRITER_ROLE = "editor"
"""The role a run credential acts with (on its own run alone)."""


class ExternalKind(JobKind):
    """The job kind ``external``: a run written from outside, which no worker executes (its
    jobs are stored running, never queued). Listed as a run."""

    name = EXTERNAL
    listed = True

    def run(
        self, store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        raise ConflictError(
            f"run {record.id} is an external run: its own writer runs it, no worker does"
        )


def new_credential() -> tuple[str, str]:
    """A new run credential and the SHA-256 the store keeps of it.

    >>> credential, kept = new_credential()
    >>> bool(CREDENTIAL.fullmatch(credential)), kept == credential_hash(credential)
    (True, True)
    """
    credential = "afr_" + secrets.token_urlsafe(32)
    return credential, credential_hash(credential)


def credential_hash(credential: str) -> str:
    """The SHA-256 (hex) of ``credential``: how the store finds its run."""
    return hashlib.sha256(credential.encode()).hexdigest()


def is_run_credential(credential: str) -> bool:
    """Whether ``credential`` is written as a run credential (``afr_...``), good or not."""
    return credential.startswith("afr_")


def start_external_run(
    store: Runs,
    pipeline: str,
    config: Mapping[str, Any],
    *,
    idle_limit: float,
    project: str,
    submitter: str | None,
    name: str | None = None,
) -> tuple[ExperimentRecord, str]:
    """Store a new external run of ``pipeline`` (what the writer calls its code) with
    ``config`` (its parameters), running from now and alive ``idle_limit`` seconds unless
    written; the run and its credential (shown once: the store keeps its hash alone).

    Raises
    ------
    ConflictError
        When ``name`` is taken in the project.
    InvalidParameterError
        For an ``idle_limit`` outside :data:`MIN_IDLE_LIMIT` to :data:`MAX_IDLE_LIMIT`.
    """
    if not MIN_IDLE_LIMIT <= idle_limit <= MAX_IDLE_LIMIT:
        raise InvalidParameterError(
            f"idle_limit must be {MIN_IDLE_LIMIT:g} to {MAX_IDLE_LIMIT:g} seconds, got "
            f"{idle_limit:g}"
        )
    credential, kept = new_credential()
    job = NewJob(pipeline, config, kind=EXTERNAL, project=project, submitter=submitter,
                 name=name, idle_limit=idle_limit, credential_hash=kept)  # fmt: skip
    [record] = enqueue(store, None, job)
    return record, credential


def run_identity(store: Access, credential: str) -> Identity:
    """Who a run credential says the caller is: the writer of its run, in its run's project
    (:attr:`Identity.run` names the run; the user is who made it).

    Raises
    ------
    CredentialError
        For a credential of no run (malformed, made up, its run deleted) or one that expired:
        its run had no word within its idle limit (lost, or about to be), judged by the
        database's clock.
    """
    found = None
    if CREDENTIAL.fullmatch(credential):
        found = store.find_run_credential(credential_hash(credential))
    if found is None:
        raise CredentialError("not a run credential of this server", public=UNKNOWN)
    if found.status == LOST or found.silent:
        expired = (
            f"the credential of run {found.experiment_id} expired: the run had no word within "
            f"its idle limit ({found.idle_limit:g} s) and is lost; start a new run"
        )
        raise CredentialError(expired, public=expired)
    user = found.submitter or f"run {found.experiment_id}"
    return Identity(user, found.project, WRITER_ROLE, found.expires_at, kind=EXTERNAL,
                    run=found.experiment_id)  # fmt: skip


class StoreRunWriter(RunWriter):
    """The writes of the external run ``experiment_id`` straight into ``store``, as the API
    makes them (``azuraforge run``'s recording with no server to talk to): with no lease."""

    def __init__(self, store: ProjectView, experiment_id: int) -> None:
        self.store, self.experiment_id = store, experiment_id

    def write(self, writes: JobWrites) -> None:
        self.store.write_external(self.experiment_id, writes)

    def finish(
        self, status: str, *, error: str | None, result: dict[str, Any] | None, writes: JobWrites
    ) -> None:
        self.store.end_external(self.experiment_id, status, error=error, result=result,
                                writes=writes)  # fmt: skip

    def heartbeat(self) -> bool:
        """Keep the run alive its idle limit from now; whether someone asked it to stop."""
        return self.store.write_external(self.experiment_id, JobWrites())
