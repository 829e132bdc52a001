""":class:`Client`: one object for everything the AzuraForge API offers a script."""

from __future__ import annotations

from azuraforge.client.access import Access
from azuraforge.client.chat import Chat
from azuraforge.client.data import DataFiles
from azuraforge.client.environment import DEFAULT_API_URL, api_url, project_name, token_for
from azuraforge.client.models import Models
from azuraforge.client.runs import Runs
from azuraforge.client.session import Session
from azuraforge.client.streams import Streams
from azuraforge.client.studies import Studies


class Client:
    """A client of a running ``azuraforge serve``, by resource: :attr:`runs`,
    :attr:`models`, :attr:`studies`, :attr:`streams`, :attr:`access`, :attr:`data` (the
    project's data files) and :attr:`chat` (the assistant), over one :attr:`session`
    (connections, credential, project, timeouts, errors).

    Every method raises the :mod:`azuraforge.errors` class matching the API's answer, with
    the API's message: ``NotFoundError`` (404), ``InvalidParameterError`` (400, 422),
    ``ConflictError`` (409), ``CredentialError`` (401), ``PermissionDeniedError`` (403),
    ``TooManyRequestsError`` (429), ``StoreUnavailableError`` (503, or no answer).

    Parameters
    ----------
    url
        The server, as ``http://127.0.0.1:8000``.
    token
        The API token to send (``None``: none); :meth:`from_environment` finds the one
        ``azuraforge login`` kept.
    project
        The project to work in (``None``: the token's).
    timeout
        Seconds each request may take.

    Examples
    --------
    >>> client = Client("http://127.0.0.1:8000", token="af_0123456789ab_...", project="lab")
    >>> client.session.headers["AzuraForge-Project"]
    'lab'
    >>> client.close()

    Against a running server (``azuraforge serve``, then ``azuraforge login``)::

        with Client.from_environment() as client:
            for run in client.runs.each(status="completed"):
                print(run["id"], run["name"], run["metrics"])
    """

    def __init__(
        self, url: str = DEFAULT_API_URL, *, token: str | None = None,
        project: str | None = None, timeout: float = 30.0,
    ) -> None:  # fmt: skip
        self.session = Session(url, token=token, project=project, timeout=timeout)
        self.runs = Runs(self.session)
        self.models = Models(self.session)
        self.studies = Studies(self.session)
        self.streams = Streams(self.session)
        self.access = Access(self.session)
        self.data = DataFiles(self.session)
        self.chat = Chat(self.session)

    @classmethod
    def from_environment(
        cls, url: str | None = None, project: str | None = None, *, timeout: float = 30.0
    ) -> Client:
        """A client as the ``azuraforge`` commands make theirs: the API at ``url``, else
        ``$AZURAFORGE_API_URL``, else ``http://127.0.0.1:8000``; the token
        ``$AZURAFORGE_TOKEN``, else the one ``azuraforge login`` kept for that URL; the
        ``project``, else ``$AZURAFORGE_PROJECT``, else the token's."""
        found = api_url(url)
        return cls(found, token=token_for(found), project=project_name(project),
                   timeout=timeout)  # fmt: skip

    @property
    def url(self) -> str:
        """The server's address."""
        return self.session.url

    def close(self) -> None:
        """Free the client's connections."""
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
