"""``azuraforge data upload|list|rm``: the CSV files of the project's data folder on a
server, through the REST API of a running ``azuraforge serve`` (``--api-url`` or
``AZURAFORGE_API_URL``). An uploaded file is at once a pipeline's ``--set csv=NAME`` or a
stream's source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Column, Table

from azuraforge.cli.common import (
    ApiUrl,
    ProjectName,
    Verbose,
    arguments,
    console,
    shown_time,
    user_errors,
)
from azuraforge.client import Client
from azuraforge.errors import InvalidParameterError

app = typer.Typer(
    help="The CSV files of the project's data folder on the server.", no_args_is_help=True
)
FileName = Annotated[
    str, typer.Argument(help="The file's name in the data folder (azuraforge data list).")
]


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(help="The local CSV file (UTF-8) to upload.")],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Its name in the data folder (sales.csv, shops/paris.csv); "
            "default: the file's own name.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a file of that name.")
    ] = False,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Upload a CSV file into the project's data folder on the server, checked there by the
    CSV reader (UTF-8, its delimiter, a header and rows); then train on it with
    `azuraforge submit forecaster --set csv=NAME ...`."""
    with user_errors(verbose), arguments():
        if not file.is_file():
            raise InvalidParameterError(f"no file {str(file)!r} to upload")
        kept = Client.from_environment(api, project).data.upload(
            file, name=name, overwrite=overwrite
        )
    console.print(
        f"uploaded {escape(kept['name'])}: {kept['rows']:,} rows, columns "
        f"{escape(', '.join(kept['columns']))} (sha256 {kept['sha256'][:12]})",
        highlight=False,
    )


@app.command("list")
def list_files(api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False) -> None:
    """List the CSV files of the project's data folder: rows, columns, size, checksum."""
    with user_errors(verbose):
        files = Client.from_environment(api, project).data.list()
    table = Table("rows", "columns", "bytes", "sha256", "modified")
    table.columns.insert(0, Column("name", no_wrap=True))  # a name is what rm takes, whole
    for file in files:
        columns = ", ".join(file["columns"]) if file["problem"] is None else "unreadable"
        table.add_row(
            escape(file["name"]), f"{file['rows']:,}", escape(columns), f"{file['bytes']:,}",
            file["sha256"][:12], shown_time(file["modified"]),
        )  # fmt: skip
    console.print(table)


@app.command("rm")
def remove(
    name: FileName, api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """Delete a file of the project's data folder (refused while runs, streams or registered
    model versions name it: the error names them)."""
    with user_errors(verbose), arguments():
        Client.from_environment(api, project).data.delete(name)
    console.print(f"deleted {escape(name)}", highlight=False)
