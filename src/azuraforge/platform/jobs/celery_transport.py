"""The Celery transport's sending side: what the API (and every process that queues a job)
uses to reach Celery workers on any number of machines through Redis.

The protocol is the store's lease, not Celery's delivery guarantees (the workers' side:
:mod:`~azuraforge.platform.jobs.celery_worker`):

- A task carries only the experiment id. A worker that receives it claims the run's lease if
  the run is still ``queued`` and does nothing otherwise, so a message delivered twice runs
  nothing twice.
- ``submit`` raises :class:`TransportUnavailableError` when the broker cannot take the
  message (after Celery's short publish retries): no worker would ever hear of the run.
- ``cancel`` revokes the task so a worker drops it unopened; the store already says
  ``cancelled``, so a worker that never heard of the revoke drops it at the claim too.
  Revoking never terminates: a running run is cancelled cooperatively by its worker, which
  watches the store. The revoke is therefore best effort: a broker that cannot be reached
  is logged, not raised.

This module imports nothing of the workers' runtime: sending a job needs no worker, no job
kind and no pool.

Messages are JSON only; no result backend is used (the store holds every result).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from celery import Celery
from kombu.connection import Connection
from kombu.exceptions import KombuError
from kombu.utils.url import maybe_sanitize_url

from azuraforge.errors import TransportUnavailableError
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.settings import Settings

TASK_NAME = "azuraforge.run_experiment"
CHECK_TIMEOUT = 2.0
"""Most seconds :meth:`CeleryTransport.check` and :meth:`CeleryTransport.cancel` try a
broker that refuses connections."""
BROKER_ERRORS = (KombuError, OSError)
"""What sending to a broker that cannot be reached raises."""
_log = logging.getLogger(__name__)


def configured_app(settings: Settings) -> Celery:
    """A Celery app on ``settings.broker_url`` configured as every AzuraForge process uses it
    (JSON messages, acknowledged after the task, one prefetched at a time), without the task:
    enough to send; a worker's app adds the task
    (:func:`~azuraforge.platform.jobs.celery_worker.make_celery_app`)."""
    app = Celery("azuraforge", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    return app


def send_run(
    app: Celery, experiment_id: int, task_id: str | None = None, delay: float = 0.0
) -> None:
    """Send the task that runs ``experiment_id`` (task id :func:`run_task_id` unless given),
    to be run ``delay`` seconds from now."""
    app.send_task(
        TASK_NAME,
        args=[experiment_id],
        task_id=task_id or run_task_id(experiment_id),
        countdown=delay if delay > 0 else None,
    )


def run_task_id(experiment_id: int) -> str:
    """The id of the task a run is first sent with, ``run-<id>`` (the one a cancel revokes)."""
    return f"run-{experiment_id}"


def fresh_task_id(experiment_id: int) -> str:
    """A task id no cancel can have revoked (a run sent again)."""
    return f"run-{experiment_id}-{uuid.uuid4().hex[:8]}"


class CeleryTransport(Transport):
    """Runs reach Celery workers (``azuraforge worker --transport celery``) through Redis.

    Parameters
    ----------
    settings
        ``broker_url`` names the Redis server; the workers read the same store.
    """

    name = "celery"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = configured_app(settings)
        self.broker = maybe_sanitize_url(settings.broker_url)

    def submit(self, experiment_id: int, delay: float = 0.0) -> None:
        """Send the run's task (held by the broker ``delay`` seconds); sending it again is
        harmless (it runs once).

        Raises
        ------
        TransportUnavailableError
            When the broker cannot take the message (it names the broker, not its password).
        """
        try:
            send_run(self.app, experiment_id, delay=delay)
        except BROKER_ERRORS as e:
            raise self._unreachable(e) from e

    def cancel(self, experiment_id: int) -> None:
        """Revoke the run's task without terminating anything (the worker running it, if
        any, stops it cooperatively when it sees the cancel request in the store). Best
        effort: a broker that cannot be reached is logged."""
        try:
            # Connected first as check() is: a broker that refuses connections fails within
            # CHECK_TIMEOUT, where the revoke's own retries kept the cancel waiting 6 s.
            with self._connection() as connection:
                self.app.control.revoke(
                    run_task_id(experiment_id), terminate=False, connection=connection
                )
        except BROKER_ERRORS as e:
            _log.warning(
                "experiment %d: its task was not revoked (%s); workers still skip or stop it "
                "through the store's cancel request",
                experiment_id,
                self._unreachable(e),
            )

    def check(self) -> None:
        """Connect to the broker once; raise :class:`TransportUnavailableError` if it fails."""
        try:
            with self._connection():
                pass
        except BROKER_ERRORS as e:
            raise self._unreachable(e) from e

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection to the broker, tried once (within :data:`CHECK_TIMEOUT`)."""
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT
            )
            yield connection

    def _unreachable(self, error: Exception) -> TransportUnavailableError:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        password = urlsplit(self.settings.broker_url).password
        if password:
            reason = reason.replace(password, "**")
        return TransportUnavailableError(f"the broker at {self.broker} is unreachable: {reason}")

    def close(self) -> None:
        """Release the broker connections this transport opened."""
        self.app.close()
