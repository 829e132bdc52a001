"""The one exception tree of AzuraForge.

Every error the package raises on purpose derives from :class:`AzuraForgeError`, and where
natural also from the matching builtin, so either ``except`` works::

    AzuraForgeError
     ├── InvalidParameterError (ValueError)   a bad argument: value, option, type
     │    ├── ShapeError                      tensors whose shapes do not fit together
     │    ├── UnstorableValueError            a value the store's database cannot hold
     │    └── AllocationLimitError            initialisers asked for more than allocation_limit
     ├── NotFoundError (KeyError)             a named thing that does not exist
     │    └── ReferenceNotFoundError          one named as an input, not as the target
     ├── SchemaMismatchError                  a saved file in a format this version cannot read
     ├── DataFormatError (ValueError)         a data file whose content cannot be parsed
     ├── DatasetUnavailableError (OSError)    a dataset file not in any mirror, cache or URL
     │    └── ChecksumMismatchError           a file whose SHA-256 is not the registered one
     ├── GradientError (RuntimeError)         backward() asked of something that cannot give it
     ├── PluginError                          a plugin that cannot be loaded or registered
     ├── TooManyRequestsError                 refused for now: try again in ``retry_after`` s
     ├── ConflictError                        a write that clashes with the stored state
     │    └── LeaseLostError                  a worker whose lease on a run was taken or expired
     ├── StoreUnavailableError (OSError)      the store's database cannot be reached
     ├── TransportUnavailableError (OSError)  the job broker (Redis for Celery) cannot be reached
     ├── BlobStoreUnavailableError (OSError)  the object store of the blobs refuses or is down
 ├── DiskFullError (OSError)              a disk of the server has no room for what it wrote
     ├── SourceUnavailableError (OSError)     a live source that failed too many times in a row
 └── ModelUnavailableError (OSError)      a packaged model, its package or a model server that is
                                          not there (the assistant never downloads one)

Messages say what failed, the value, what was expected, and what to do; :func:`shorten` cuts
a long value shown in one. A message is written for the user who runs AzuraForge and may name
their files, the store's URL and what else exists; :attr:`AzuraForgeError.public` is the same
error told to anyone else (an API client).
"""


class AzuraForgeError(Exception):
    """Base class of every error AzuraForge raises on purpose.

    ``public`` (keyword) gives the message told to someone who does not run AzuraForge, when
    ``str(error)`` names what only its user may know: a server path, the store's URL, the
    names of other models or projects. It says what the client sent and what to change.

    Examples
    --------
    >>> error = NotFoundError("experiment 7 not found in sqlite:///af.db",
    ...                       public="experiment 7 not found")
    >>> print(error, "|", error.public, "|", ConflictError("name taken").public)
    experiment 7 not found in sqlite:///af.db | experiment 7 not found | name taken
    """

    _public: str | None = None

    def __init__(self, *args: object, public: str | None = None) -> None:
        super().__init__(*args)
        if public is not None:
            self._public = public

    @property
    def public(self) -> str:
        """The message for an API client: the ``public`` given, else ``str(error)``."""
        return str(self) if self._public is None else self._public


class InvalidParameterError(AzuraForgeError, ValueError):
    """An argument has a value that cannot work (wrong option, negative size, ...)."""


class ShapeError(InvalidParameterError):
    """Tensors or arrays whose shapes do not fit the operation."""


class UnstorableValueError(InvalidParameterError):
    """A value the store's database refuses (a number out of its range, text holding NUL on
    PostgreSQL) that no earlier check caught."""


class AllocationLimitError(InvalidParameterError):
    """The initialisers were asked for more values than the enclosing
    :func:`~azuraforge.core.nn.init.allocation_limit` allows; ``requested`` counts every
    value asked for in the block."""

    def __init__(self, requested: int, limit: int) -> None:
        super().__init__(
            f"initialising would create {requested:,} values, more than the {limit:,} "
            "allowed by allocation_limit"
        )
        self.requested, self.limit = requested, limit


class NotFoundError(AzuraForgeError, KeyError):
    """A named record, file, parameter or plugin does not exist."""

    def __str__(self) -> str:
        # KeyError quotes its message; we want it to read like a sentence.
        return str(self.args[0]) if self.args else ""


class ReferenceNotFoundError(NotFoundError):
    """A record named as an input of an operation, not as its target, does not exist: the
    run to register as a model version. The API answers 422 (the request names something
    that is not there), keeping 404 for a target that is not."""


class SchemaMismatchError(AzuraForgeError):
    """A stored file or database was written in a format this version cannot read."""


class DataFormatError(AzuraForgeError, ValueError):
    """A data file (CSV, IDX) whose header, values or row order cannot be read as documented."""


class DatasetUnavailableError(AzuraForgeError, OSError):
    """A dataset file that no mirror, cache or download could provide."""


class ChecksumMismatchError(DatasetUnavailableError):
    """A dataset file whose SHA-256 differs from the registered one; it is never used."""


class GradientError(AzuraForgeError, RuntimeError):
    """``backward()`` was asked of a tensor that cannot produce gradients."""


class PluginError(AzuraForgeError):
    """A plugin cannot be imported, or clashes with another one."""


class ConflictError(AzuraForgeError):
    """A write that clashes with what is stored: a name already taken, a finished run."""


class CredentialError(AzuraForgeError):
    """No credential, or one that is not (or no longer) good: unknown, wrong, expired,
    revoked, or its user disabled. Its public message never says which (its message, for
    the server's log, does), unless given one."""

    _public = "no valid credential: sign in, or send a token (Authorization: Bearer af_...)"


class TooManyRequestsError(AzuraForgeError):
    """A caller refused for now: too many failed sign-ins of a name from its address, or more
    password checks at once than the server runs. ``retry_after`` says in how many seconds
    to try again."""

    def __init__(self, *args: object, retry_after: float, public: str | None = None) -> None:
        super().__init__(*args, public=public)
        self.retry_after = retry_after


class PermissionDeniedError(AzuraForgeError):
    """A good credential whose role does not allow what was asked (a viewer's write, an
    editor's change of members)."""


class LeaseLostError(ConflictError):
    """A worker's lease on a run expired or was taken over; it may write nothing more for it
    (the lease epoch it holds is the fencing token every write checks)."""


class StoreUnavailableError(AzuraForgeError, OSError):
    """The store's database cannot be reached (down, wrong URL, refused connection)."""


class TransportUnavailableError(AzuraForgeError, OSError):
    """The job transport cannot deliver a message now: its broker is down or unreachable."""


class BlobStoreUnavailableError(AzuraForgeError, OSError):
    """The blob store (an S3-compatible object store) cannot be used now: unreachable, its
    bucket missing, or the credentials refused."""


class DiskFullError(AzuraForgeError, OSError):
    """A disk of the server is full (ENOSPC): what was being written was not kept."""


class SourceUnavailableError(AzuraForgeError, OSError):
    """A live source (a URL polled) failed too many times in a row to go on: the service is
    down, refuses, or answers what cannot be read."""


class ModelUnavailableError(AzuraForgeError, OSError):
    """A model the assistant needs is not installed or not reachable; it never downloads one."""


class BoundaryUnavailableError(AzuraForgeError, OSError):
    """Untrusted code was to run behind a real boundary (bubblewrap) that this machine cannot
    give: the guardian runs no code without it."""


def public_message(error: BaseException) -> str:
    """What someone who does not run AzuraForge is told of ``error``: its
    :attr:`~AzuraForgeError.public` form, or for an error not of ours its message."""
    return error.public if isinstance(error, AzuraForgeError) else str(error)


def shorten(text: str, most: int = 60, *, quoted: bool = False) -> str:
    """``text`` as shown in a message: cut after ``most`` characters, saying how long it was.

    Parameters
    ----------
    text
        The value as text (``repr(state)``, ``json.dumps(value)``, a CSV field...).
    most
        How many characters of ``text`` to keep.
    quoted
        Quote the kept part as ``repr`` does (so the quotes stay paired when it is cut).

    Examples
    --------
    >>> shorten("short")
    'short'
    >>> print(shorten("abcdefgh", most=3), shorten("abcdefgh", most=3, quoted=True))
    abc... (8 characters) 'abc'... (8 characters)
    """
    head = repr(text[:most]) if quoted else text[:most]
    return head if len(text) <= most else f"{head}... ({len(text)} characters)"
