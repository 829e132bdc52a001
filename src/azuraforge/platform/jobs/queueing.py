"""How jobs reach the transport: the settings' transport, and a job sent again.

Sending is kept apart from the transports it picks between (:mod:`.transport`,
:mod:`.celery_transport`), so that each transport's module imports none of the others and no
transport imports a worker's runtime.
"""

from __future__ import annotations

import logging

from azuraforge.platform.jobs.transport import LocalTransport, Transport
from azuraforge.platform.jobs.wake import WAKE_FILE
from azuraforge.platform.settings import Settings

_log = logging.getLogger(__name__)


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
