"""The server's settings as its admins change them while it runs (``/api/v1/server/settings``,
``azuraforge settings``): the catalogue of what may be set and how each applies, a change
checked as a whole and written as a new version of the store's ``server_settings``, and
:class:`LiveSettings`, each process's holder of the settings it runs.

A version holds every override in force after its change. A process runs its environment's
settings (and settings file) with the newest version's overrides on top: the live ones as soon
as it sees the version (the process that made the change at once, the others at their next
look, every ``settings_poll_interval``), the restart ones as they were when it started (a
change to one is stored, and says it needs a restart). The settings a process runs are one
object, swapped whole: a request reads one version's values throughout.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr, ValidationError
from pydantic_core import PydanticUndefined, to_jsonable_python

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.jobs.threads import Periodic
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ServerSettingsRecord, Store, is_unavailable

_log = logging.getLogger(__name__)

LIVE = frozenset({
    "max_request_bytes", "max_upload_bytes", "max_artifact_bytes", "max_predict_rows",
    "predict_batch_wait", "run_idle_limit", "alias_refresh", "alert_interval", "alert_webhooks",
    "assist_backends", "assist_max_tokens", "assist_selector_discount", "assist_cache_url",
    "assist_cache_ttl", "assist_cache_entries", "log_level", "metrics_token",
    "settings_poll_interval",
})  # fmt: skip
"""The settings a running server applies when they change: each is read where it is used."""
ENVIRONMENT_ONLY = frozenset({
    "database_url", "home", "session_key", "plugins_dir", "data_dir", "blob_store",
    "assist_memory_url",
})  # fmt: skip
"""Settings the API never sets: the store's address and home (what would read the change),
the key that guards the store's sessions (a store cannot hold the key that guards it), and
the places on the server's disk it imports code from or keeps files in (a request never
names a path of the server's: a plugin folder set through the API would be code run at the
next start, a data folder or blob folder there every project's files)."""
SECRET_NAMES = frozenset({"broker_url", "assist_cache_url", "assist_memory_url"})
"""Settings not typed as secrets whose addresses may carry a password."""


class SettingRefusedError(InvalidParameterError):
    """A change refused (nothing changed): each problem as ``(setting, why)`` in
    :attr:`problems` (the setting ``""`` for the change as a whole)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {why}" if name else why for name, why in problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerSetting:
    """A setting of the catalogue: whether it applies live or at the next start, and whether
    it is a secret (never shown, only whether it is set)."""

    name: str
    live: bool
    secret: bool
    description: str


def _is_secret(name: str) -> bool:
    return name in SECRET_NAMES or "SecretStr" in str(Settings.model_fields[name].annotation)


CATALOGUE: Mapping[str, ServerSetting] = {
    name: ServerSetting(name, name in LIVE, _is_secret(name), field.description or "")
    for name, field in sorted(Settings.model_fields.items())
    if name not in ENVIRONMENT_ONLY
}
"""Every setting the API may set, by name: every field of
:class:`~azuraforge.platform.settings.Settings` but :data:`ENVIRONMENT_ONLY`'s."""


@dataclass(frozen=True)
class Applied:
    """The settings a process runs and the version they are (0: its environment alone)."""

    settings: Settings
    version: int


class LiveSettings:
    """This process's settings: those of its environment (``base``) with the overrides of
    the newest version of the store it has seen. Thread safe; :attr:`applied` is one
    reference, replaced whole by a newer version.

    Parameters
    ----------
    base
        The settings of the process's environment and settings file.
    """

    def __init__(self, base: Settings) -> None:
        self.base = base
        self.applied = Applied(base, 0)
        self._started: dict[str, Any] = {}
        """The restart settings' overrides when the process started (:meth:`load`)."""
        self._listeners: list[Callable[[Settings], None]] = []
        self._lock = threading.Lock()
        self._poller: Periodic | None = None
        self._store: Store | None = None

    @property
    def current(self) -> Settings:
        """The settings this process runs now."""
        return self.applied.settings

    @property
    def version(self) -> int:
        """The version this process runs (0: none stored, the environment's settings)."""
        return self.applied.version

    def on_change(self, listener: Callable[[Settings], None]) -> None:
        """Call ``listener`` with the new settings before each newer version is in force."""
        self._listeners.append(listener)

    def validated(self, overrides: Mapping[str, Any]) -> Settings:
        """The environment's settings with ``overrides`` on top, checked as a whole.

        Raises
        ------
        SettingRefusedError
            Naming each setting refused and why.
        """
        values = self.base.model_dump()
        values.update(overrides)
        try:
            return Settings.model_validate(values)
        except ValidationError as e:
            raise SettingRefusedError([_problem(error) for error in e.errors()]) from None

    def apply(self, record: ServerSettingsRecord) -> bool:
        """Run ``record``'s version if newer than this process's; whether it did. A version
        that cannot be applied here (an override this process's environment refuses) is
        logged, and the process keeps its settings."""
        with self._lock:
            if record.version <= self.version:
                return False
            effective = {**_live_overrides(record.overrides), **self._started}
            try:
                settings = self.validated(effective)
            except SettingRefusedError as e:
                _log.error("server settings version %d not applied: %s", record.version, e)
                return False
            for listener in self._listeners:
                listener(settings)
            self.applied = Applied(settings, record.version)
        _log.info("server settings version %d applied", record.version)
        return True

    def refresh(self, store: Store) -> bool:
        """Apply the store's newest version if newer than this process's; whether it did."""
        if store.server_settings_version() <= self.version:
            return False
        record = store.find_server_settings()
        return record is not None and self.apply(record)

    def load(self, store: Store) -> Settings:
        """Run the store's newest version as this process's start: its restart settings too
        (those of later versions wait for the next start). The settings it runs then. A store
        that does not answer is logged: the environment's settings run until the poller
        reads a version (the API answers 503 meanwhile wherever it needs the store)."""
        self._store = store
        try:
            newest = store.find_server_settings()
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("server settings not read (the store is unreachable): %s", e)
            newest = None
        self._started = _restart_overrides(newest.overrides) if newest else {}
        if newest is not None:
            self.apply(newest)
        return self.current

    def start(self) -> None:
        """Look for a newer version every ``settings_poll_interval`` seconds (after
        :meth:`load`) until :meth:`stop`; once a process (a second call does nothing)."""
        if self._poller is not None:
            return
        self._poller = Periodic("settings", self.current.settings_poll_interval, self._poll)
        self._poller.start()

    def stop(self) -> None:
        """Stop looking for newer versions."""
        if self._poller is not None:
            self._poller.stop()

    def _poll(self) -> None:
        if self._store is not None and self.refresh(self._store) and self._poller is not None:
            self._poller.interval = self.current.settings_poll_interval


def _live_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if k in CATALOGUE and CATALOGUE[k].live}


def _restart_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if k in CATALOGUE and not CATALOGUE[k].live}


def _problem(error: Mapping[str, Any]) -> tuple[str, str]:
    """A pydantic error as ``(setting, why)`` (a secret's value not repeated)."""
    where = ".".join(str(part) for part in error["loc"])
    return where, str(error["msg"]).removeprefix("Value error, ")


@dataclass(frozen=True)
class Change:
    """A change written: its version, and the restart settings it named (in force at each
    process's next start)."""

    record: ServerSettingsRecord
    restart_required: list[str]


def change_settings(
    store: Store, live: LiveSettings, changes: Mapping[str, Any], actor: str
) -> Change:
    """Write the settings in ``changes`` as a new version (a ``None`` value takes a setting's
    override away: back to the environment's or the default) and run it in this process
    at once. Checked as a whole first: when one is wrong, nothing changes.

    Raises
    ------
    SettingRefusedError
        For a name the catalogue has not (one set in the environment alone says so), or a
        value the settings refuse, naming it and why.
    ConflictError
        When other changes kept being written at the same moment (three tries).
    """
    _check_names(changes)
    _check_no_model_files(changes.get("assist_backends"))
    for attempt in range(3):
        version, overrides = _next_version(store, live, changes)
        try:
            record = store.create_server_settings(version, overrides, sorted(changes), actor)
        except ConflictError:
            if attempt == 2:
                raise
            continue
        live.apply(record)
        restart = sorted(name for name in changes if not CATALOGUE[name].live)
        return Change(record, restart)
    raise AssertionError("unreachable: the third try returns or raises")


def _next_version(
    store: Store, live: LiveSettings, changes: Mapping[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The number and the overrides of the version after the newest: its overrides with
    ``changes`` on them, checked (:class:`SettingRefusedError` otherwise) and as shown."""
    newest = store.find_server_settings()
    overrides = dict(newest.overrides) if newest else {}
    overrides.update(changes)
    overrides = {name: value for name, value in overrides.items() if value is not None}
    checked = live.validated(overrides)
    overrides = {name: _shown(getattr(checked, name)) for name in overrides}
    return (newest.version if newest else 0) + 1, overrides


def _check_names(changes: Mapping[str, Any]) -> None:
    if not changes:
        raise SettingRefusedError([("", "no setting to change: name one or more")])
    for name in changes:
        if name in ENVIRONMENT_ONLY:
            why = (
                f"not set through the API: set AZURAFORGE_{name.upper()} in the server's "
                "environment and restart it"
            )
            raise SettingRefusedError([(name, why)])
        if name not in CATALOGUE:
            why = (
                "no server setting has this name; GET /api/v1/server/settings or `azuraforge "
                "settings get` lists them"
            )
            raise SettingRefusedError([(name, why)])


def _check_no_model_files(backends: Any) -> None:
    """Refuse a backend whose model is named by a file path (a GGUF file on the server's
    disk): through the API a model is one of the packaged ones, or a served model's name."""
    for backend in backends if isinstance(backends, list) else []:
        model = str(backend.get("model", "")) if isinstance(backend, Mapping) else ""
        if any(mark in model for mark in ("/", "\\", "~")) or model.lower().endswith(".gguf"):
            why = (
                f"model {model[:100]!r} is a file's path: through the API a model is a packaged "
                "model's name or a served model's; a GGUF file is named in the server's "
                "settings file or environment"
            )
            raise SettingRefusedError([("assist_backends", why)])


@dataclass(frozen=True)
class SettingState:
    """A setting as a process runs it (a secret's value never given: ``None``)."""

    setting: ServerSetting
    value: Any
    is_set: bool
    default: Any
    source: Literal["store", "env", "default"]
    """``store`` (set through the API), ``env`` (the environment or settings file) or
    ``default``."""
    restart_pending: bool
    """Whether the store holds another value, in force at the next start."""


def describe(live: LiveSettings, store: Store) -> list[SettingState]:
    """Every setting of the catalogue as this process runs it, by name."""
    newest = store.find_server_settings()
    stored = newest.overrides if newest else {}
    from_environment = live.base.model_fields_set
    return [
        _state(setting, getattr(live.current, setting.name), stored, from_environment)
        for setting in CATALOGUE.values()
    ]


def _state(
    setting: ServerSetting, value: Any, stored: Mapping[str, Any], from_environment: set[str]
) -> SettingState:
    name, shown = setting.name, _shown(value)
    source: Literal["store", "env", "default"] = (
        "store" if name in stored else "env" if name in from_environment else "default"
    )
    pending = not setting.live and name in stored and stored[name] != shown
    return SettingState(
        setting, None if setting.secret else shown, shown not in (None, [], ""),
        None if setting.secret else _default(name), source, pending,
    )  # fmt: skip


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _shown(value: Any) -> Any:
    """A value as JSON (secret texts as themselves: callers never show a secret's)."""
    if isinstance(value, list):
        return [_shown(item) for item in value]
    return to_jsonable_python(_plain(value))


def _default(name: str) -> Any:
    field = Settings.model_fields[name]
    if field.default is not PydanticUndefined:
        return _shown(field.default)
    return None  # a default made from another setting (home's folders) or a factory


def masked(setting_name: str, value: Any) -> Any:
    """``value`` as history shows it: a secret's as ``"set"``."""
    if setting_name in CATALOGUE and CATALOGUE[setting_name].secret:
        return "set"
    return value


def apply_log_level(settings: Settings) -> None:
    """Set the level of the ``azuraforge`` loggers; below WARNING, give their records a
    handler on stderr when the process's logging has none (Python writes only warnings and
    above otherwise)."""
    logger = logging.getLogger("azuraforge")
    level = logging.getLevelName(settings.log_level)
    logger.setLevel(level)
    if 0 < level < logging.WARNING and not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
