"""``azuraforge stream start|list|show|stop``: streams run by a server as supervised jobs,
through the REST API of a running ``azuraforge serve`` (``--api-url`` or
``AZURAFORGE_API_URL``). ``azuraforge stream replay`` (cli/stream.py) runs in this process."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from azuraforge.cli.client import ApiUrl, connect, shown_time
from azuraforge.cli.common import (
    ConfigFile,
    SetOptions,
    Verbose,
    arguments,
    console,
    parse_sets,
    read_config,
    user_errors,
)
from azuraforge.stream.online import MODEL, headline

StreamId = Annotated[int, typer.Argument(help="Stream id (azuraforge stream list).")]


def start(
    source: Annotated[
        str | None,
        typer.Argument(help="A dataset (btc-hourly, sp500-daily) or a CSV of the data folder."),
    ] = None,
    config: ConfigFile = None,
    sets: SetOptions = None,
    name: Annotated[str | None, typer.Option("--name", help="Unique in the project.")] = None,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """Start a stream on the server: it learns the next direction of its source's price one
    event at a time, on a worker, restarted from its last checkpoint if the worker dies.
    Settings: `azuraforge stream schema`; --set learner=mlp --set horizon=6 ..."""
    with user_errors(verbose):
        with arguments():
            settings = {**read_config(config), **parse_sets(sets or [])}
            if source is not None:
                settings["source"] = source
            body: dict[str, Any] = {"config": settings, **({"name": name} if name else {})}
            created = connect(api).request("POST", "/streams", json=body)
        console.print(
            f"stream {created['id']} ({created['name']}): {created['status']}, "
            f"{created['learner']} on {created['source']}; watch it with "
            f"`azuraforge stream show {created['id']}`"
        )


def list_(
    status: Annotated[
        str | None, typer.Option("--status", help="Comma-separated statuses.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """The server's streams, newest first: how far each got, how its learner scores beside
    the best trivial rule, how often it was restarted (`stream show ID` for the rest)."""
    with user_errors(verbose):
        with arguments():
            params = {"limit": limit, **({"status": status} if status else {})}
            page = connect(api).request("GET", "/streams", params=params)
        table = Table(title=f"{page['total']:,} streams")
        for column in ("id", "name", "status", "learner", "events", "accuracy", "best rule"):
            table.add_column(column, no_wrap=column in ("status", "learner", "accuracy"))
        table.add_column("restarts")
        for row in page["data"]:
            accuracy, best = _accuracies(row["scores"])
            table.add_row(
                str(row["id"]), row["name"], row["status"], row["learner"],
                f"{row['events']:,}", accuracy, best, str(row["restarts"]),
            )  # fmt: skip
        console.print(table)


def show(stream_id: StreamId, api: ApiUrl = None, verbose: Verbose = False) -> None:
    """One stream: status, worker, progress, each model's scores beside the trivial rules',
    and its restarts."""
    with user_errors(verbose):
        with arguments():
            detail = connect(api).request("GET", f"/streams/{stream_id}")
        console.print(
            f"stream {detail['id']} {detail['name']}: {detail['status']}, {detail['learner']} on "
            f"{detail['source']}, {detail['events']:,} events, {detail['scored']:,} predictions "
            f"scored, worker {detail['worker'] or '-'}"
        )
        if detail["error"]:
            console.print(f"  {detail['error']}")
        if detail["scores"]:
            console.print(_scores_table(detail["scores"]))
        for restart in detail["restart_history"]:
            when, reason = shown_time(restart["at"]), restart["reason"]
            console.print(f"  restarted {when} ({reason}): {restart['detail']}")


def stop(stream_id: StreamId, api: ApiUrl = None, verbose: Verbose = False) -> None:
    """Stop a stream (a running one at its next event, after its last checkpoint)."""
    with user_errors(verbose):
        with arguments():
            row = connect(api).request("POST", f"/streams/{stream_id}/stop")
        asked = (
            " (stop requested: it stops at its next event)" if row["status"] == "running" else ""
        )
        console.print(f"stream {stream_id}: {row['status']}{asked}")


def schema(api: ApiUrl = None, verbose: Verbose = False) -> None:
    """The settings a stream takes, with their defaults."""
    with user_errors(verbose):
        with arguments():
            found = connect(api).request("GET", "/streams/schema")
        table = Table("setting", "default", "description")
        for name, field in found["properties"].items():
            default = (
                "(required)" if name in found.get("required", []) else repr(field.get("default"))
            )
            table.add_row(name, default, field.get("description", ""))
        console.print(table)


SCORES = ("accuracy", "log_loss", "recent_accuracy", "recent_log_loss")


def _scores_table(scores: dict[str, float]) -> Table:
    """Each model's scores, the learner's first."""
    table = Table("model", "accuracy", "log-loss", "recent accuracy", "recent log-loss")
    for model in sorted({key.split("/", 1)[0] for key in scores}, key=_model_order):
        values = (scores.get(f"{model}/{score}", float("nan")) for score in SCORES)
        table.add_row(model, *(f"{value:.4f}" for value in values))
    return table


def _accuracies(scores: dict[str, float]) -> tuple[str, str]:
    """The learner's accuracy and the best trivial rule's, as shown."""
    found = headline(scores)
    ours, best = found.get("accuracy"), found.get("best_rule_accuracy")
    return ("-" if ours is None else f"{ours:.2%}", "-" if best is None else f"{best:.2%}")


def _model_order(name: str) -> tuple[bool, str]:
    return name != MODEL, name
