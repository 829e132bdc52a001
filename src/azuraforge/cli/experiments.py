"""``azuraforge experiments list|show|cancel|delete`` and ``azuraforge submit``: clients of
the REST API of a running ``azuraforge serve`` (``--api-url`` or ``AZURAFORGE_API_URL``)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from azuraforge.cli.client import ApiClient, api_url
from azuraforge.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    ConfigFile,
    PipelineName,
    SetOptions,
    Verbose,
    arguments,
    console,
    parse_sets,
    read_config,
    user_errors,
)

app = typer.Typer(
    help="List, inspect, cancel and delete experiments (runs).", no_args_is_help=True
)

ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", help="API of azuraforge serve (default http://127.0.0.1:8000)."),
]
ExperimentId = Annotated[int, typer.Argument(help="Experiment id.")]


def _client(url: str | None) -> ApiClient:
    return ApiClient(api_url(url))


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", help="Comma-separated statuses.")
    ] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Batch id.")] = None,
    sort: Annotated[str, typer.Option("--sort", help="A column or metric:<key>.")] = "id",
    ascending: Annotated[bool, typer.Option("--asc", help="Ascending order.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """A page of experiments, newest first."""
    with user_errors(verbose):
        with arguments():
            params = {
                "status": status,
                "pipeline": pipeline,
                "batch_id": batch,
                "sort": sort,
                "order": "asc" if ascending else "desc",
                "limit": limit,
                "offset": offset,
            }
            page = _client(api).request(
                "GET", "/experiments", params={k: v for k, v in params.items() if v is not None}
            )
        table = Table(
            "id",
            "name",
            "pipeline",
            "status",
            "progress",
            "metrics",
            title=f"{page['total']} experiments (from {offset + 1})",
        )
        for row in page["data"]:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(row["metrics"].items())[:4])
            table.add_row(
                str(row["id"]),
                row["name"],
                row["pipeline"],
                _status(row["status"]),
                f"{row['progress']:.0%}",
                shown,
            )
        console.print(table)


@app.command()
def show(experiment_id: ExperimentId, api: ApiUrl = None, verbose: Verbose = False) -> None:
    """One experiment: status, lease, config, scores beside baselines, files."""
    with user_errors(verbose):
        with arguments():
            detail = _client(api).request("GET", f"/experiments/{experiment_id}")
        _print_detail(detail)


@app.command()
def cancel(experiment_id: ExperimentId, api: ApiUrl = None, verbose: Verbose = False) -> None:
    """Cancel a queued or running experiment (metrics so far are kept)."""
    with user_errors(verbose):
        with arguments():
            row = _client(api).request("POST", f"/experiments/{experiment_id}/cancel")
        console.print(
            f"experiment {experiment_id}: {row['status']}"
            + (" (stop requested)" if row["status"] == "running" else "")
        )


@app.command()
def delete(experiment_id: ExperimentId, api: ApiUrl = None, verbose: Verbose = False) -> None:
    """Delete a finished or queued experiment with its metrics and files."""
    with user_errors(verbose):
        with arguments():
            _client(api).request("DELETE", f"/experiments/{experiment_id}")
        console.print(f"deleted experiment {experiment_id}")


def submit(
    pipeline: PipelineName,
    set_: SetOptions = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="key=\\[v1,v2]: one run per combination; repeatable."),
    ] = None,
    config: ConfigFile = None,
    name: Annotated[str | None, typer.Option("--name", help="Experiment name (unique).")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Stream progress until the run ends.")
    ] = False,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """Queue a run on the server (through the API); --follow shows its progress live.

    With --follow, the exit code says how the run ended: 0 completed, 1 failed or lost,
    3 cancelled."""
    with user_errors(verbose):
        with arguments():
            settings = {**read_config(config), **parse_sets(set_ or [])}
            grid_values = parse_sets(grid or [])
            body: dict[str, Any] = {"pipeline": pipeline, "config": settings, "name": name}
            if grid_values:
                body["grid"] = grid_values
            client = _client(api)
            created = client.request("POST", "/experiments", json=body)
        for row in created["data"]:
            console.print(
                f"queued experiment {row['id']} ({row['name']})"
                + (f", batch {row['batch_id']}" if row["batch_id"] else "")
            )
        if not follow:
            return
        final = "completed"
        for row in created["data"]:
            final = _follow(client, row["id"])
            _print_detail(client.request("GET", f"/experiments/{row['id']}"))
    if final == "cancelled":
        raise typer.Exit(EXIT_CANCELLED)
    if final != "completed":
        raise typer.Exit(EXIT_FAILED)


def _follow(client: ApiClient, experiment_id: int) -> str:
    """Show the run's progress from its event stream until it ends; return the final status."""
    from websockets.sync.client import connect

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with (
        Progress(*columns, console=console) as progress,
        connect(
            client.websocket_url(f"/experiments/{experiment_id}/events"), open_timeout=10
        ) as socket,
    ):
        task = progress.add_task(f"experiment {experiment_id}", total=1.0, note="")
        for raw in socket:
            message = json.loads(raw)
            kind = message["type"]
            if kind == "history":
                fraction = (message.get("progress") or {}).get("progress", 0.0)
                progress.update(task, completed=fraction, note=message["status"])
            elif kind == "progress":
                progress.update(task, completed=message["progress"], note=message["message"])
            elif kind == "metrics":
                last = {key: value for key, _, value in message["points"]}
                progress.update(
                    task, note=", ".join(f"{k}={v:.4g}" for k, v in list(last.items())[:3])
                )
            elif kind == "end":
                return str(message["status"])
    return "lost"


def _print_detail(detail: dict[str, Any]) -> None:
    title = f"[bold]experiment {detail['id']}[/bold] {detail['name']} ({detail['pipeline']})"
    console.print(f"{title}: {_status(detail['status'])}", highlight=False)
    when = {k: detail[k] for k in ("created_at", "started_at", "finished_at") if detail[k]}
    console.print("  " + "  ".join(f"{k.removesuffix('_at')} {_time(v)}" for k, v in when.items()))
    if detail["lease"]["owner"]:
        console.print(
            f"  worker {detail['worker']}, lease epoch {detail['lease']['epoch']}", highlight=False
        )
    if detail["error"]:
        console.print(f"  [red]{detail['error']}[/red]", highlight=False)
    console.print(f"  config {json.dumps(detail['config'])}", highlight=False)
    if detail["scores"]:
        columns: list[str] = []
        for values in detail["scores"].values():
            columns += [c for c in values if c not in columns]
        table = Table("metric", *columns, title="Test set")
        for metric, values in detail["scores"].items():
            table.add_row(metric, *(f"{values[c]:.4g}" if c in values else "" for c in columns))
        console.print(table)
    for artifact in detail["artifacts"]:
        console.print(
            f"  artifact {artifact['path']} ({artifact['size']:,} bytes)", highlight=False
        )


def _status(status: str) -> str:
    colour = {
        "completed": "green",
        "failed": "red",
        "lost": "red",
        "cancelled": "yellow",
        "running": "cyan",
    }
    return f"[{colour.get(status, 'white')}]{status}[/]"


def _time(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
