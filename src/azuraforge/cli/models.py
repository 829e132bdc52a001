"""``azuraforge models list|show|register|alias|history|rollback|delete|predict``: clients of
the registry's REST API on a running ``azuraforge serve`` (``--api-url`` or
``AZURAFORGE_API_URL``). A model version is named ``name@alias``, ``name/3`` or ``name``
(its latest version)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
    help="Registered models: versions from runs, aliases with history, predictions.",
    no_args_is_help=True,
)

ModelName = Annotated[str, typer.Argument(help="Model name.")]
Reference = Annotated[
    str, typer.Argument(help="name@alias, name/VERSION, or name (its latest version).")
]
Alias = Annotated[str, typer.Argument(help="Alias name (champion, challenger...).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the alias's history).")]


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Registered models with their latest version and aliases."""
    with user_errors(verbose):
        with arguments():
            page = Client.from_environment(api, project).models.list(limit=limit, offset=offset)
        table = Table("name", "latest", "aliases", "description", title=f"{page.total} models")
        for row in page.data:
            aliases = ", ".join(f"{a}→{v}" for a, v in sorted(row["aliases"].items()))
            latest = "-" if row["latest_version"] is None else str(row["latest_version"])
            table.add_row(row["name"], latest, aliases, row["description"][:60])
        console.print(table)


@app.command()
def show(
    name: ModelName, api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """A model and its versions (newest first): source run, pipeline, first test score
    beside its first baseline, aliases."""
    with user_errors(verbose):
        client = Client.from_environment(api, project)
        with arguments():
            model = client.models.get(name)
            versions = client.models.versions(model["name"])
        console.print(f"[bold]{model['name']}[/bold] {model['description']}", highlight=False)
        columns = ("version", "aliases", "pipeline", "source run", "test (baseline)", "created")
        table = Table(*columns, "by")
        for row in versions.data:
            table.add_row(
                str(row["version"]),
                ", ".join(row["aliases"]),
                row["pipeline"],
                f"{row['source_experiment_name']} ({row['source_experiment_id'] or 'deleted'})",
                _score(row["metrics"]),
                shown_time(row["created_at"]),
                row["created_by"],
            )
        console.print(table)


def _score(metrics: dict[str, Any]) -> str:
    """The first test metric and its first baseline: ``MAE 0.777 (persistence 1.069)``.

    >>> _score({"MAE": {"model": 0.7771, "persistence": 1.069}, "R2": {"model": 0.99}})
    'MAE 0.7771 (persistence 1.069)'
    >>> _score({})
    ''
    """
    for name, values in metrics.items():
        if isinstance(values, dict) and isinstance(values.get("model"), int | float):
            shown = f"{name} {values['model']:.4g}"
            baselines = [(k, v) for k, v in values.items() if k != "model" and v is not None]
            if baselines:
                shown += f" ({baselines[0][0]} {baselines[0][1]:.4g})"
            return shown
    return ""


@app.command()
def register(
    name: ModelName,
    experiment: Annotated[str, typer.Argument(help="The completed run: its id or name.")],
    description: Annotated[str, typer.Option("--description", help="About this version.")] = "",
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Register a completed run's model as the next version of NAME (created if new)."""
    with user_errors(verbose):
        client = Client.from_environment(api, project)
        source: int | str = int(experiment) if experiment.isdigit() else experiment
        with arguments():
            version = client.models.register(name, source, description)
        console.print(
            f"registered {name}/{version['version']} from experiment "
            f"{version['source_experiment_id']} ({version['source_experiment_name']})",
            highlight=False,
        )


@app.command()
def alias(
    name: ModelName,
    alias_name: Alias,
    version: Annotated[
        int | None, typer.Argument(help="The version it should point to.", min=1)
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the alias.")] = False,
    reason: Reason = "",
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Point ALIAS of NAME at VERSION (or --remove it); the move is recorded with your user
    name and the reason."""
    with user_errors(verbose):
        with arguments():
            if remove == (version is not None):
                raise InvalidParameterError("give a VERSION to point the alias at, or --remove")
            models = Client.from_environment(api, project).models
            if version is None:
                answer = models.remove_alias(name, alias_name, reason=reason)
            else:
                answer = models.set_alias(name, alias_name, version, reason=reason)
        _print_move(name, alias_name, answer)


@app.command()
def history(
    name: ModelName,
    alias_name: Alias,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Every move of an alias, newest first: when, who, from → to, why."""
    with user_errors(verbose):
        with arguments():
            page = Client.from_environment(api, project).models.alias_history(
                name, alias_name, limit=limit
            )
        table = Table(
            "when", "who", "from", "to", "rollback", "reason", title=f"{name}@{alias_name}"
        )
        for move in page.data:
            table.add_row(
                shown_time(move["created_at"]),
                move["actor"],
                _version(move["from_version"]),
                _version(move["to_version"]),
                "yes" if move["rollback"] else "",
                move["reason"],
            )
        console.print(table)


@app.command()
def rollback(
    name: ModelName, alias_name: Alias, reason: Reason = "", api: ApiUrl = None,
    project: ProjectName = None, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Point an alias back at the version before its last move (recorded as a rollback)."""
    with user_errors(verbose):
        with arguments():
            models = Client.from_environment(api, project).models
            answer = models.rollback(name, alias_name, reason=reason)
        _print_move(name, alias_name, answer)


@app.command()
def delete(
    reference: Annotated[str, typer.Argument(help="name/VERSION: the version to delete.")],
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Delete a model version and its files (refused while an alias points to it)."""
    with user_errors(verbose):
        with arguments():
            name, slash, version = reference.partition("/")
            if not slash or not version.isdigit():
                raise InvalidParameterError(f"name a version as name/VERSION, got {reference!r}")
            Client.from_environment(api, project).models.delete_version(name, int(version))
        console.print(f"deleted {name}/{version}", highlight=False)


@app.command()
def predict(
    reference: Reference,
    inputs: Annotated[Path, typer.Argument(help="CSV file of raw rows (with a header).")],
    horizon: Annotated[
        int | None, typer.Option("--horizon", min=1, help="Forecasters: the next N times.")
    ] = None,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Predict with a registered model on the rows of a CSV file (sent to the API), printing
    the predictions as CSV."""
    with user_errors(verbose):
        with arguments():
            try:
                with inputs.open(newline="", encoding="utf-8") as handle:
                    rows = list(csv.DictReader(handle))
            except (OSError, UnicodeDecodeError) as e:
                raise InvalidParameterError(f"cannot read {inputs}: {e}") from None
            models = Client.from_environment(api, project).models
            answer = models.predict(reference, rows, horizon=horizon)
        columns = answer["predictions"]
        print(",".join(columns))
        for values in zip(*columns.values(), strict=True):
            print(",".join("" if v is None else json.dumps(v).strip('"') for v in values))


def _version(number: int | None) -> str:
    return "-" if number is None else str(number)


def _print_move(name: str, alias_name: str, answer: dict[str, Any]) -> None:
    move = answer["move"]
    where = f"{name}@{alias_name}"
    if move is None:
        console.print(f"{where} already points to version {answer['version']}", highlight=False)
        return
    went = f"{_version(move['from_version'])} → {_version(move['to_version'])}"
    kind = "rolled back" if move["rollback"] else "moved"
    console.print(f"{where} {kind}: {went} (by {move['actor']})", highlight=False)
