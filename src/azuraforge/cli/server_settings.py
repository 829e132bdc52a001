"""``azuraforge settings get|set|history``: the server's live settings (docs/operations.md,
Live settings), through the API of the server you are logged in to (``azuraforge login``,
or ``AZURAFORGE_TOKEN``), else in the store of this machine's settings directly."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any, Protocol

import typer
from rich.markup import escape
from rich.table import Table

from azuraforge.cli.common import ApiUrl, Verbose, console, settings_with, user_errors
from azuraforge.errors import InvalidParameterError

app = typer.Typer(
    help="The server's settings, changed while it runs (docs/operations.md, Live settings).",
    no_args_is_help=True,
)
PATH = "/server/settings"


class _Settings(Protocol):
    """Where the commands read and change the settings: the API's answers, as dicts."""

    def get(self) -> dict[str, Any]: ...
    def change(self, changes: dict[str, Any]) -> dict[str, Any]: ...
    def history(self, limit: int) -> dict[str, Any]: ...


class _Remote:
    """Through the API of a server you are logged in to."""

    def __init__(self, url: str) -> None:
        from azuraforge.client import Client

        self.session = Client.from_environment(url).session

    def get(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.session.request("GET", PATH)
        return answer

    def change(self, changes: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.session.request("PATCH", PATH, json=changes)
        return answer

    def history(self, limit: int) -> dict[str, Any]:
        answer: dict[str, Any] = self.session.request(
            "GET", f"{PATH}/history", params={"limit": limit}
        )
        return answer


class _Embedded:
    """In the store of this machine's settings (no server logged in to)."""

    def __init__(self) -> None:
        from azuraforge.platform.services.server_settings import LiveSettings
        from azuraforge.platform.store import Store

        settings = settings_with()
        self.store = Store(settings.database_url)
        self.live = LiveSettings(settings)
        self.live.load(self.store)

    def get(self) -> dict[str, Any]:
        from azuraforge.platform.api.schemas.server_settings import (
            ServerSettingPublic,
            ServerSettingsPublic,
        )
        from azuraforge.platform.services.server_settings import describe

        data = [ServerSettingPublic.of(state) for state in describe(self.live, self.store)]
        return ServerSettingsPublic(version=self.live.version, data=data).model_dump(mode="json")

    def change(self, changes: dict[str, Any]) -> dict[str, Any]:
        from azuraforge.platform.services.server_settings import change_settings

        actor = f"cli:{getpass.getuser()}"
        change = change_settings(self.store, self.live, changes, actor)
        target = f"version {change.record.version}: {', '.join(change.record.changed)}"
        self.store.audit(actor, "settings.set", target)
        return {**self.get(), "changed": change.record.changed,
                "restart_required": change.restart_required}  # fmt: skip

    def history(self, limit: int) -> dict[str, Any]:
        from azuraforge.platform.api.schemas.server_settings import ServerSettingsVersionPublic

        data = [ServerSettingsVersionPublic.of(r) for r in self.store.list_server_settings(limit)]
        return {"data": [version.model_dump(mode="json") for version in data]}


def _settings(api: str | None) -> _Settings:
    """The server's API when a token for it is known, else the store of this machine."""
    from azuraforge.client.environment import api_url, token_for

    url = api_url(api)
    return _Remote(url) if token_for(url) else _Embedded()


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _value(setting: dict[str, Any]) -> str:
    if setting["secret"]:
        return "(set)" if setting["set"] else "(unset)"
    return _shown(setting["value"])


@app.command("get")
def get(
    key: Annotated[str | None, typer.Argument(help="One setting (default: all).")] = None,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """Show the settings (or one): value (a secret's: set or unset), live or restart, and
    where it comes from (store, env, default)."""
    with user_errors(verbose):
        answer = _settings(api).get()
        found = [s for s in answer["data"] if key is None or s["name"] == key]
        if not found:
            raise InvalidParameterError(
                f"no server setting is named {key!r}; `azuraforge settings get` lists them"
            )
        if key is not None:
            console.print(_value(found[0]), markup=False, highlight=False)
            return
        table = Table(
            "setting", "value", "applies", "source", title=f"settings version {answer['version']}"
        )
        for setting in found:
            pending = " (restart pending)" if setting["restart_pending"] else ""
            table.add_row(setting["name"], escape(_value(setting)),
                          setting["applies"] + pending, setting["source"])  # fmt: skip
        console.print(table)


@app.command("set")
def set_(
    pairs: Annotated[
        list[str],
        typer.Argument(
            help="KEY=VALUE (VALUE as JSON, else as text; KEY= takes a change away).",
            show_default=False,
        ),
    ],
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """Change settings as one new version: live ones apply on every server within a
    second; restart ones are stored and said to need a restart."""
    with user_errors(verbose):
        changes = dict(_pair(pair) for pair in pairs)
        answer = _settings(api).change(changes)
        console.print(f"settings version {answer['version']}: {', '.join(answer['changed'])}",
                      markup=False, highlight=False)  # fmt: skip
        if answer["restart_required"]:
            console.print(
                f"restart required for: {', '.join(answer['restart_required'])} (stored; "
                "in force at each server's next start)",
                markup=False, highlight=False,
            )  # fmt: skip


@app.command("history")
def history(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many versions.")] = 20,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """The versions of the settings, newest first: who, when, which settings."""
    with user_errors(verbose):
        versions = _settings(api).history(limit)["data"]
        table = Table("version", "when (UTC)", "who", "changed")
        for version in versions:
            table.add_row(str(version["version"]), _when(version["changed_at"]),
                          escape(version["actor"]), ", ".join(version["changed"]))  # fmt: skip
        console.print(table)


def _when(epoch: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pair(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as ``(key, value)``: VALUE read as JSON, else as text; empty: None."""
    key, equals, raw = item.partition("=")
    if not equals or not key.strip():
        raise InvalidParameterError(f"a setting is KEY=VALUE, got {item!r}")
    if not raw:
        return key.strip(), None
    try:
        return key.strip(), json.loads(raw)
    except ValueError:
        return key.strip(), raw
