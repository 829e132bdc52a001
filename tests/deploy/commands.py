"""What the deployment files run, checked against the CLI itself: a command line of the image,
the compose file or the chart must name a command of ``azuraforge`` and only options it has,
with values it takes (parsed by the CLI's own parser, never run)."""

from __future__ import annotations

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from azuraforge.cli.main import app
from azuraforge.platform.api.app import API_PREFIX
from azuraforge.platform.settings import Settings

HEALTH_PATH = f"{API_PREFIX}/health"
"""The API's health route, which every health check of the deployment files asks."""


def check_command(argv: list[str]) -> str:
    """The name of the command ``azuraforge *argv`` runs, once its arguments parse.

    Raises
    ------
    ValueError
        Naming the command line and what the CLI's parser said of it.
    """
    command = typer.main.get_command(app)
    rest = list(argv)
    try:
        while isinstance(command, TyperGroup):
            name, rest = rest[0], rest[1:]
            found = command.get_command(typer.Context(command), name)
            if found is None:
                raise ValueError(f"azuraforge has no command {name!r}: {argv}")
            command = found
        with command.make_context(command.name or "", rest) as context:
            if context.args:
                raise ValueError(f"{argv}: {context.args} left over")
    except TyperException as e:
        raise ValueError(f"azuraforge {' '.join(argv)}: {e.format_message()}") from e
    return command.name or ""


def unknown_settings(environment: dict[str, str]) -> list[str]:
    """The ``AZURAFORGE_*`` names of ``environment`` that are no setting: pydantic-settings
    passes them over in silence, so a misspelt one would be a setting never given."""
    return [name for name in environment if name.startswith("AZURAFORGE_")
            and name.removeprefix("AZURAFORGE_").lower() not in Settings.model_fields]  # fmt: skip
