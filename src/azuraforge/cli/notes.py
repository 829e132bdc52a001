"""``azuraforge rename RUN NEW`` and ``azuraforge note RUN TEXT``: what a run is called and
what its people say of it, any run's, whatever its status (clients of the REST API of a
running ``azuraforge serve``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from azuraforge.cli.common import (
    ApiUrl,
    ProjectName,
    Verbose,
    arguments,
    console,
    user_errors,
)
from azuraforge.client import Client

RunId = Annotated[int, typer.Argument(help="The run's id.")]
FROM_STDIN = "-"


def rename(
    run: RunId,
    new_name: Annotated[str, typer.Argument(help="Its new name, unique in the project.")],
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Rename a run (a name another run of the project has is refused: exit code 1, as a
    taken name is by submit)."""
    with user_errors(verbose), arguments():
        row = Client.from_environment(api, project).runs.rename(run, new_name)
        console.print(f"experiment {run} is named {row['name']}", markup=False, highlight=False)


def note(
    run: RunId,
    text: Annotated[
        str,
        typer.Argument(
            help='The notes, replacing those it has ("" clears them; - reads them from '
            "standard input). Up to 10,000 characters."
        ),
    ],
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Write a run's notes: what you want to remember of it (plain text)."""
    with user_errors(verbose), arguments():
        given = sys.stdin.read() if text == FROM_STDIN else text
        row = Client.from_environment(api, project).runs.note(run, given)
        said = f"{len(row['notes']):,} characters" if row["notes"] else "none"
        console.print(f"experiment {run}: notes {said}", highlight=False)
