"""What every command shares: consoles, the error-to-exit-code rule, settings from options."""

from __future__ import annotations

import importlib.util
import re
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from azuraforge.cli import missing_package
from azuraforge.client.environment import DEFAULT_API_URL, PROJECT_VARIABLE, api_url, token_for
from azuraforge.errors import AzuraForgeError, InvalidParameterError, NotFoundError

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # an error stays one line

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors.")]
PipelineName = Annotated[str, typer.Argument(help="Pipeline name (see: azuraforge pipelines).")]
SetOptions = Annotated[
    list[str] | None, typer.Option("--set", help="A setting as key=value; repeatable.")
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="YAML file of settings (--set wins).")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Store URL (default: AZURAFORGE_DATABASE_URL or SQLite in AZURAFORGE_HOME).",
    ),
]
ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", help=f"API of azuraforge serve (default {DEFAULT_API_URL})."),
]
"""The ``--api-url`` option of every command that talks to a running serve (else
``$AZURAFORGE_API_URL``)."""


def logged_in(api: str | None) -> bool:
    """Whether a command given ``--api-url api`` talks to a server: the option given, or a
    token known for the API (``$AZURAFORGE_TOKEN``, or one ``azuraforge login`` kept)."""
    return api is not None or token_for(api_url(api)) is not None


ProjectName = Annotated[
    str | None,
    typer.Option(
        "--project", envvar=PROJECT_VARIABLE,
        help="The project to work in (default: the one of your token).",
    ),
]  # fmt: skip
"""The ``--project`` option of every command that reads or writes a project's data."""

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED, EXIT_ABORTED = 1, 2, 3, 130


class UsageError(AzuraForgeError):
    """The command was used wrongly (exit code 2), as opposed to data or a run failing."""


@contextmanager
def arguments() -> Iterator[None]:
    """Reading the command's own arguments: a name, setting or path that does not work means
    the command was used wrongly."""
    try:
        yield
    except (InvalidParameterError, NotFoundError) as e:
        raise UsageError(str(e)) from e


class _SettingsLoader(yaml.SafeLoader):
    """YAML for settings: numbers, bools and lists, but dates stay text (the config decides)
    and only true and false are bools, as in YAML 1.2 and JSON (a column named No, On or Y
    stays a name)."""


_LEFT_TO_US = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
_SettingsLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag not in _LEFT_TO_US]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# 1e-3 is a number, as in YAML 1.2 and JSON (PyYAML's YAML 1.1 needs a dot: 1.0e-3): the API
# reads settings as JSON types, strictly, and refuses the text "1e-3" for a float.
_SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_SettingsLoader)  # a SafeLoader subclass: no objects
    except yaml.YAMLError as e:
        problem = str(e).replace("\n", " ")
        raise InvalidParameterError(f"{where} is not valid YAML: {problem}") from None


@contextmanager
def user_errors(verbose: bool) -> Iterator[None]:
    """Turn errors into one red line and an exit code (``--verbose`` adds the traceback)."""
    try:
        yield
    except KeyboardInterrupt:
        errors.print("[red]aborted[/red]")
        raise typer.Exit(EXIT_ABORTED) from None
    except typer.Abort:  # a prompt's input ended (or Ctrl-C) before an answer
        errors.print(
            "[red]aborted:[/red] no answer to the prompt (without a terminal, give "
            "it on standard input: the command's --help says how)"
        )
        raise typer.Exit(EXIT_ABORTED) from None
    except Exception as e:
        if verbose:
            traceback.print_exc()
        if isinstance(e, AzuraForgeError):
            errors.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
            raise typer.Exit(EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED) from None
        missing = missing_package(e) if isinstance(e, ModuleNotFoundError) else None
        if missing is not None:
            errors.print(f"[red]error:[/red] {escape(missing)}", highlight=False)
            raise typer.Exit(EXIT_FAILED) from None
        # A bug, not bad input: still one line.
        errors.print(
            f"[red]internal error:[/red] {type(e).__name__}: {escape(str(e))} (run again with "
            "--verbose for the traceback, and please report it)",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED) from None


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--set needs key=value, got {pair!r}")
        if raw.strip() == ",":  # NOTE: YAML reads no lone comma: decimal=, and delimiter=,
            settings[key.strip()] = ","
        else:
            settings[key.strip()] = _yaml(raw, f"--set {pair!r}") if raw.strip() else raw
    return settings


def read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = _yaml(path.read_text(), f"config file {path}")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidParameterError(f"cannot read config file {path}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"config file {path} must hold key: value settings, got {type(data).__name__}"
        )
    return data


def platform_installed() -> bool:
    """Whether the platform extra is installed (its settings' ``pydantic_settings``): without
    it, commands that would use this machine's store or plugin folder do without."""
    try:
        return importlib.util.find_spec("pydantic_settings") is not None
    except ModuleNotFoundError:  # an import hook that refuses it: not installed either
        return False


def settings_with(**options: Any) -> Any:
    """The platform's :class:`~azuraforge.platform.settings.Settings`, with the options a
    command was given (``None`` = not given) over the environment and settings file."""
    from azuraforge.platform.settings import Settings

    given = {key: value for key, value in options.items() if value is not None}
    try:
        return Settings(**given)
    except InvalidParameterError as e:  # the settings file cannot be read
        raise UsageError(str(e)) from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'settings'}: "
            + str(err["ctx"]["error"] if err["type"] == "value_error" else err["msg"])
            for err in e.errors()
            if err["type"] != "default_factory_not_called"  # an echo of another error
        )
        raise UsageError(f"bad platform settings: {problems}") from None


def shown_time(seconds: float) -> str:
    """A time the API gives (seconds since the epoch) as the local ``YYYY-mm-dd HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
