"""The plugin folder as the platform runs it: loaded from ``settings.plugins_dir`` at the start
of every API process, worker and command (:func:`load_plugin_folder`), and each API process's
digest of what it loaded shared with the others through the store (:class:`PluginReplicas`),
so that ``/health`` reports a replica that runs other plugin files than the rest.

Each API process holds a duty of its own in the store's ``duties`` table, named
``plugins:<host:pid:random>`` and held by its digest, renewed every ``duty_renew_interval``
for ``duty_ttl`` seconds by the database's clock: the live ones are the processes that
renewed theirs lately; a process that died drops out within ``duty_ttl``, and its row is
deleted at another's next renewal.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from azuraforge.learn.plugin_folder import LoadedFolder, load_folder
from azuraforge.platform.jobs.threads import Periodic
from azuraforge.platform.jobs.worker import worker_name
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, is_unavailable

_log = logging.getLogger(__name__)
PREFIX = "plugins:"
"""The start of the names of the API processes' duties that carry their digests."""


def load_plugin_folder(settings: Settings) -> LoadedFolder:
    """Import the plugin files of ``settings.plugins_dir`` (once per process; nothing when it
    is not set): each file that fails is a warning naming it, never an error."""
    return load_folder(settings.plugins_dir)


@dataclass(frozen=True)
class ReplicaDigest:
    """An API process (``host:pid:random``) and the digest of the plugin files it loaded."""

    replica: str
    digest: str


@dataclass(frozen=True)
class PluginSetReport:
    """This process's plugin set beside the other live API processes' (``/health``)."""

    digest: str
    loaded: int
    failed: int
    replicas: int
    """The live API processes, this one included."""
    differing: tuple[ReplicaDigest, ...]
    """The processes whose digest is not the one most of them have (a tie is settled for
    this process's): each runs other plugin files than the rest."""


class PluginReplicas:
    """This API process's digest of its plugin set, kept in ``store`` while it runs, and the
    others' as read from it.

    Parameters
    ----------
    store
        The store every replica shares.
    settings
        ``duty_ttl``: how long a report stays live; ``duty_renew_interval``: how often it is
        renewed.
    loaded
        What this process loaded from its plugin folder.
    """

    def __init__(self, store: Store, settings: Settings, loaded: LoadedFolder) -> None:
        self.store, self.loaded = store, loaded
        self.replica = worker_name()
        self.ttl = settings.duty_ttl
        self._beats = Periodic("plugin-digest", settings.duty_renew_interval, self.beat)

    @property
    def name(self) -> str:
        """This process's duty: ``plugins:<host:pid:random>``."""
        return f"{PREFIX}{self.replica}"

    def start(self) -> None:
        """Report at once (an unreachable store is logged: the next beat reports), then every
        ``duty_renew_interval``."""
        try:
            self.beat()
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("plugin digest not reported (the store is unreachable): %s", e)
        self._beats.start()

    def beat(self) -> None:
        """Renew this process's report; delete those of processes gone."""
        self.store.hold_duty(self.name, self.loaded.digest, self.ttl)
        self.store.delete_lapsed_duties(PREFIX)

    def stop(self) -> None:
        """Stop reporting, and end this process's report now (a clean stop)."""
        self._beats.stop()
        try:
            self.store.release_duty(self.name, self.loaded.digest)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("plugin digest not withdrawn (it lapses): %s", e)

    def report(self) -> PluginSetReport:
        """This process's set beside the live processes' (this one always among them)."""
        digests = {
            name.removeprefix(PREFIX): digest
            for name, digest in self.store.list_duties(PREFIX).items()
        }
        digests[self.replica] = self.loaded.digest
        counts = Counter(digests.values())
        usual = max(counts, key=lambda digest: (counts[digest], digest == self.loaded.digest))
        differing = tuple(
            ReplicaDigest(replica, digest)
            for replica, digest in sorted(digests.items())
            if digest != usual
        )
        files = self.loaded.files
        loaded = sum(file.loaded for file in files)
        return PluginSetReport(
            self.loaded.digest, loaded, len(files) - loaded, len(digests), differing
        )
