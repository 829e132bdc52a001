"""The one way in for jobs, and how they reach the transport.

Every job the platform runs (a pipeline's run, a study's trial, a prediction, a stream, a
stream's retrain, a run ``azuraforge run`` records) is queued by :func:`enqueue`, and by
nothing else (``tests/platform/jobs/test_queueing.py`` reads the package's source and fails
for a job's row made elsewhere). So what every job carries is given in one place: its project,
the user who asked (``submitter``), and the ``context`` it takes from where it was asked to the
worker that runs it (a trace's context), which the worker reads on the job's row.

Sending is kept apart from the transports it picks between (:mod:`.transport`,
:mod:`.celery_transport`), so that each transport's module imports none of the others and no
transport imports a worker's runtime.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from azuraforge.errors import AzuraForgeError, ConflictError, TransportUnavailableError
from azuraforge.platform.jobs.transport import LocalTransport, Transport
from azuraforge.platform.jobs.wake import WAKE_FILE
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord
from azuraforge.platform.store.interfaces import Runs
from azuraforge.platform.store.states import QUEUED, RUN
from azuraforge.platform.tracing import carried

_log = logging.getLogger(__name__)
_GIVEN_FIRST = ("pipeline", "config")
"""The fields of a :class:`NewJob` that ``Store.create_experiment`` takes by position."""


@dataclass(frozen=True)
class NewJob:
    """A job to queue: its ``kind`` and ``pipeline``, its validated ``config``, where it
    belongs (``project``), who asked (``submitter``; None when nobody known did) and what it
    carries to its worker (``context``); the rest places it (a name, a batch, a study's
    trial) and says whether a lost one is queued again (``requeue_lost``). A
    job with an ``idle_limit`` is a run no worker executes (an external run): stored running,
    written by the holder of the credential whose secret's SHA-256 is ``credential_hash``
    (``Store.create_experiment``), and sent to no worker.

    Examples
    --------
    >>> NewJob("forecaster", {"epochs": 2}, submitter="ana").kind
    'run'
    """

    pipeline: str
    config: Mapping[str, Any]
    kind: str = RUN
    project: str = DEFAULT_PROJECT
    submitter: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    batch_id: str | None = None
    requeue_lost: bool = False
    study_id: int | None = None
    trial_number: int | None = None
    idle_limit: float | None = None
    credential_hash: str | None = None


def enqueue(store: Runs, transport: Transport | None, *jobs: NewJob) -> list[ExperimentRecord]:
    """Store each of ``jobs`` as queued, then send each to ``transport``; their records, in
    order. Every job's row is committed before any worker hears of it. ``transport`` None
    sends nothing: the caller runs the job itself, claiming its lease at once, or writes it
    from outside (a job with an ``idle_limit``, stored running: an external run, which is
    never sent).

    All or nothing: when storing a job or sending one fails (a taken name, an unreachable
    store or broker), the jobs stored are withdrawn (:func:`withdraw`).

    Raises
    ------
    TransportUnavailableError
        When the transport cannot send a message, saying what was left (normally nothing).
    ConflictError
        When a job's name is taken in its project.
    """
    records: list[ExperimentRecord] = []
    try:
        for job in jobs:
            records.append(store.create_experiment(job.pipeline, job.config, **_placing(job)))
        for record in records:
            if transport is not None and record.status == QUEUED:
                transport.submit(record.id)
    except TransportUnavailableError as e:
        left = withdraw(store, records)
        raise TransportUnavailableError(f"{e}; {'; '.join(left) or 'nothing was queued'}") from e
    except BaseException:
        withdraw(store, records)
        raise
    return records


def _placing(job: NewJob) -> dict[str, Any]:
    """The store's keywords of ``job``: every field but its pipeline and config, its context
    holding the current trace's (:func:`~azuraforge.platform.tracing.carried`)."""
    placing = {f.name: getattr(job, f.name) for f in fields(job) if f.name not in _GIVEN_FIRST}
    placing["context"] = {**job.context, **carried()}  # the trace queuing it, if one
    return placing


def withdraw(store: Runs, records: Sequence[ExperimentRecord]) -> list[str]:
    """Undo a submission that failed partway: delete the jobs it stored (their names are
    free again). A job a worker claimed meanwhile (local workers poll the store) is asked to
    cancel instead.

    Returns
    -------
    list[str]
        One sentence per job that is not gone (each also logged); empty when none is left.
    """
    left = []
    for record in records:
        try:
            store.delete_experiment(record.id)
        except ConflictError:
            left.append(f"experiment {record.id} had already started and was asked to cancel")
            with contextlib.suppress(AzuraForgeError):  # it may have ended meanwhile
                store.request_cancel(record.id)
        except AzuraForgeError as e:
            left.append(f"experiment {record.id} could not be withdrawn ({e})")
    for line in left:
        _log.warning("a failed submission left %s", line)
    return left


def make_transport(settings: Settings) -> Transport:
    """The transport ``settings.transport`` names."""
    if settings.transport == "celery":
        from azuraforge.platform.jobs.celery_transport import CeleryTransport

        return CeleryTransport(settings)
    return LocalTransport(settings.home / WAKE_FILE)


def submit_again(settings: Settings, experiment_id: int, delay: float = 0.0) -> None:
    """Send a run its worker queued again (a worker shut down, a job restarted) to the
    settings' transport; a failure is logged, not raised: local workers find the run anyway,
    and the message says why Celery ones may not."""
    try:
        make_transport(settings).submit(experiment_id, delay=delay)
    except Exception as e:
        _log.error("experiment %d is queued again but was not sent: %s", experiment_id, e)
