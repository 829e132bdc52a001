"""The AzuraForge API from Python: the client the ``azuraforge`` commands use, for scripts,
notebooks and tracking clients.

It needs httpx alone (and ``websockets`` to follow a run's events), imports neither the
command line (Typer, Rich) nor the platform's server side (FastAPI, SQLAlchemy), and finds
its server, token and project as the commands do (``AZURAFORGE_API_URL``,
``AZURAFORGE_TOKEN`` or ``azuraforge login``, ``AZURAFORGE_PROJECT``)::

    from azuraforge.client import Client

    client = Client.from_environment()
    (run,) = client.runs.submit("weather-forecaster", {"epochs": 5})
    for message in client.runs.events(run["id"]):
        if message["type"] == "end":
            print(message["status"])
    print(client.runs.get(run["id"])["scores"])

An error the API answers is raised as the :mod:`azuraforge.errors` class it stands for, with
the API's message (:class:`Session`).
"""

from azuraforge.client.access import Access
from azuraforge.client.api import Client
from azuraforge.client.environment import save_token, saved_tokens
from azuraforge.client.external import ExternalRun
from azuraforge.client.models import Models
from azuraforge.client.runs import Runs
from azuraforge.client.session import Page, Session
from azuraforge.client.streams import Streams
from azuraforge.client.studies import Studies

__all__ = [
    "Access",
    "Client",
    "ExternalRun",
    "Models",
    "Page",
    "Runs",
    "Session",
    "Streams",
    "Studies",
    "save_token",
    "saved_tokens",
]
