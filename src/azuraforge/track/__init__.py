"""Track your own training code on AzuraForge: metrics, parameters, tags, notes and files of
a script or a notebook, as a run listed, followed live and compared beside the platform's
own::

    from azuraforge import track

    with track.start_run(name="resnet-try-3", experiment="cifar", params={"lr": 0.01}) as run:
        for epoch in range(20):
            for step, batch in enumerate(loader):
                loss = train_step(batch)
                run.log_metrics({"loss": loss}, step=epoch * len(loader) + step)
            run.log_metrics({"val_loss": evaluate()}, step=epoch)
        run.log_artifact("confusion.png")
        run.log_model(artifact)  # a ModelArtifact: registered and served as a pipeline's

With a server configured (``azuraforge login``, or ``AZURAFORGE_API_URL`` and
``AZURAFORGE_TOKEN``) the run is written to it; with none, into the embedded store, as
``azuraforge run`` records a run. Each call only queues (about a microsecond in the training
loop); a thread of the run sends batches about once a second, keeps them on disk while the
server is away (``$AZURAFORGE_HOME/spool``) and sends them, once, when it answers again
(what a killed script left there, the next ``start_run`` sends: :mod:`.leftovers`); a
heartbeat keeps the run alive, so that a killed script's run ends ``lost`` after its idle
limit. Leaving the block ends the run ``completed``, or ``failed`` with the exception's type
and message (the exception goes on). Tracking never raises into the training loop: an outage
is said once in the log (the ``azuraforge.track`` logger), and its end.

Importing this package is light: the standard library alone (the HTTP client is imported
when a run starts with a server, the platform when one starts without).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from azuraforge.system_metrics import DEFAULT_INTERVAL
from azuraforge.track.leftovers import send_leftovers_in_background
from azuraforge.track.run import END_TIMEOUT, Run, opened
from azuraforge.track.sender import log
from azuraforge.track.sinks import Sink
from azuraforge.track.spool import Spool, spool_root

__all__ = ["Run", "start_run"]

FLUSH_INTERVAL = 1.0
"""Seconds between two batches the sender sends (sooner when many points wait)."""


def start_run(
    name: str | None = None,
    experiment: str | None = None,
    *,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    idle_limit: float | None = None,
    url: str | None = None,
    token: str | None = None,
    project: str | None = None,
    flush_interval: float = FLUSH_INTERVAL,
    end_timeout: float = END_TIMEOUT,
    system_metrics: float = DEFAULT_INTERVAL,
) -> Run:
    """Start a run of your own code, running from now; use it as a context manager (or call
    :meth:`Run.end`; a run left open is ended when the interpreter exits).

    Parameters
    ----------
    name
        The run's name, unique in the project (a taken one gets a suffix, said in the log);
        default none (the platform names it by its id).
    experiment
        What the run belongs to, shown and filtered on as a pipeline run's pipeline; default
        the script's file name (``train`` for ``train.py``), else ``external``.
    tags
        The run's tags (key: value, as text), set once it is made (:meth:`Run.set_tags`).
    params
        The run's parameters (JSON values): its config, shown and compared as a pipeline
        run's settings.
    idle_limit
        Seconds the run stays alive without a word from this process (default the server's
        ``run_idle_limit``, 600 s): the heartbeat speaks every quarter of it, so a killed
        process's run ends ``lost`` that long after.
    url, token, project
        The server, and the token (an editor's or an admin's) and project to make the run
        with; default as the ``azuraforge`` commands find them (``AZURAFORGE_API_URL``,
        ``AZURAFORGE_TOKEN`` or ``azuraforge login``, ``AZURAFORGE_PROJECT``). With no token
        found, the run goes into the embedded store (``AZURAFORGE_DATABASE_URL``).
    flush_interval, end_timeout
        Seconds between two batches, and that the run's end waits at most for the server.
    system_metrics
        Seconds between two samples of this process's CPU, memory and threads, logged as the
        run's ``system/...`` metrics, named as MLflow's (:mod:`azuraforge.system_metrics`),
        from a thread of their own; 0: none.

    Raises
    ------
    ImportError
        Without a server, when the platform's extra (``azuraforge[platform]``) is missing.
    """
    created = _created(name, experiment, params, idle_limit)
    sink = _sink(url, token, project)
    spool = _spool(sink, created)
    run = Run(sink, spool, created, interval=flush_interval, end_timeout=end_timeout,
              system_interval=system_metrics)  # fmt: skip
    if tags:
        run.set_tags(tags)  # the first thing sent once the run is made
    _send_leftovers(sink, spool)
    return opened(run.start())


def _created(
    name: str | None,
    experiment: str | None,
    params: dict[str, Any] | None,
    idle_limit: float | None,
) -> tuple[Any, ...]:
    """What the run is made with: its experiment, its parameters as JSON values, its name
    and idle limit."""
    config: dict[str, Any] = json.loads(json.dumps(params or {}, default=_plain))
    return (experiment or _script_name(), config, name, idle_limit)


def _spool(sink: Sink, created: tuple[Any, ...]) -> Spool:
    """A new spool for the run's batches, saying where they go (it works on without its
    folder, said in the log, keeping nothing the server does not take at once)."""
    spool = Spool(spool_root(), uuid.uuid4().hex)
    try:
        spool.open({"format": 1, "sink": sink.address(), "created": list(created), "run": None})
    except OSError as e:
        log.warning("tracking: the spool %s cannot be made (%s): what the server does not "
                    "take at once may be lost", spool.folder, e)  # fmt: skip
    return spool


def _send_leftovers(sink: Sink, spool: Spool) -> None:
    """Send the spools other processes left behind, in the background, with the run's
    token for its server."""
    token = getattr(sink, "token", None)
    send_leftovers_in_background(spool.folder.name, {sink.where: token} if token else {})


def _sink(url: str | None, token: str | None, project: str | None) -> Sink:
    """The server's API when a token is given or found for it, else the embedded store."""
    from azuraforge.client.environment import api_url, project_name, token_for

    found = api_url(url)
    token = token or token_for(found)
    if token is not None:
        from azuraforge.track.sinks import ServerSink

        return ServerSink(found, token, project_name(project))
    from azuraforge.track.embedded import StoreSink  # the platform, imported now alone

    return StoreSink()


def _plain(value: Any) -> Any:
    """A parameter's value JSON can hold: a NumPy or PyTorch scalar's number, else its text.

    >>> _plain(Path("data.csv"))
    'data.csv'
    """
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


def _script_name() -> str:
    """The running script's file name without its suffix, or ``external`` (a notebook, a
    REPL)."""
    import sys

    script = Path(sys.argv[0]).stem[:100] if sys.argv and sys.argv[0] else ""
    return (
        script
        if script and not script.startswith("-") and script != "ipykernel_launcher"
        else "external"
    )
