"""``azuraforge runs list|scores|show|follow|cancel|delete|compare`` and ``azuraforge
submit``: clients of the REST API of a running ``azuraforge serve`` (``--api-url`` or
``AZURAFORGE_API_URL``). ``azuraforge experiments`` is the same group under its former name,
hidden and deprecated for one release."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from azuraforge.cli.common import (
    EXIT_ABORTED,
    EXIT_CANCELLED,
    EXIT_FAILED,
    ApiUrl,
    ConfigFile,
    PipelineName,
    ProjectName,
    SetOptions,
    Verbose,
    arguments,
    console,
    errors,
    parse_sets,
    read_config,
    shown_time,
    user_errors,
)
from azuraforge.client import Client
from azuraforge.client.runs import SORT_COLUMNS
from azuraforge.client.session import Page
from azuraforge.errors import InvalidParameterError, StoreUnavailableError

app = typer.Typer(
    help="List, inspect, follow, cancel, delete and compare runs.", no_args_is_help=True
)

RunId = Annotated[int, typer.Argument(help="Run id.")]
DETACHED = "detached"
"""How a followed run "ended" when Ctrl-C stopped the following (the run goes on)."""


StatusFilter = Annotated[str | None, typer.Option("--status", help="Comma-separated statuses.")]
PipelineFilter = Annotated[str | None, typer.Option("--pipeline")]
BatchFilter = Annotated[str | None, typer.Option("--batch", help="Batch id.")]
GroupFilter = Annotated[
    str | None,
    typer.Option("--group", help="An MLflow experiment's name, or a tracked run's experiment."),
]
TagFilter = Annotated[
    list[str] | None,
    typer.Option("--tag", help="key:value; repeat for runs with each of several tags."),
]
SearchFilter = Annotated[
    str | None, typer.Option("--search", help="Text in the name or pipeline.")
]
MetricFilter = Annotated[
    str | None, typer.Option("--metric", help="Keep runs whose last value of it is in range.")
]
MetricMinimum = Annotated[float | None, typer.Option("--min", help="Lowest --metric value.")]
MetricMaximum = Annotated[float | None, typer.Option("--max", help="Highest --metric value.")]
SortKey = Annotated[
    str,
    typer.Option("--sort", help="A column, metric:<key>, or a score's name (metrics.MAE.model)."),
]
Ascending = Annotated[bool, typer.Option("--asc", help="Ascending order.")]
Limit = Annotated[int, typer.Option("--limit", min=1, max=500)]
Offset = Annotated[int, typer.Option("--offset", min=0)]
WhereFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Keep runs whose score passes: 'metrics.MAE.model<0.5' (op < <= > >= =; "
        "metric:<key> for a metric's last value). Repeat: each must pass.",
    ),
]
Columns = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Comma-separated columns after id, name and status: fields, metric:<key>, "
        "score names (`azuraforge runs scores` lists them).",
    ),
]
AsCsv = Annotated[
    bool,
    typer.Option("--csv", help="Print every run found (no page) as CSV, with --columns."),
]


@app.command("list")
def list_(
    status: StatusFilter = None,
    pipeline: PipelineFilter = None,
    batch: BatchFilter = None,
    group: GroupFilter = None,
    tag: TagFilter = None,
    search: SearchFilter = None,
    metric: MetricFilter = None,
    minimum: MetricMinimum = None,
    maximum: MetricMaximum = None,
    sort: SortKey = "id",
    ascending: Ascending = False,
    limit: Limit = 20,
    offset: Offset = 0,
    where: WhereFilter = None,
    columns: Columns = None,
    as_csv: AsCsv = False,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """A page of runs, newest first (or as --sort says)."""
    with user_errors(verbose):
        runs = Client.from_environment(api, project).runs
        filters: dict[str, Any] = dict(
            status=status, pipeline=pipeline, batch=batch, search=search, metric=metric,
            minimum=minimum, maximum=maximum, sort=_sort_key(sort), ascending=ascending,
            where=where, group=group, tag=tag,
        )  # fmt: skip
        if as_csv:
            with arguments():
                for text in runs.export(columns, **filters):
                    sys.stdout.write(text)
            return
        with arguments():
            page = runs.list(**filters, limit=limit, offset=offset)
        if columns:
            _print_columns(page, [c.strip() for c in columns.split(",") if c.strip()], offset)
        else:
            _print_runs(page, offset)


def _print_runs(page: Page, offset: int) -> None:
    """The page as a table of id, name, pipeline, status, progress and up to four metrics."""
    table = Table(
        "id", "name", "pipeline", "status", "progress", "metrics", title=_title(page, offset)
    )
    for row in page.data:
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


def _sort_key(sort: str) -> str:
    """The API's sort key for ``--sort``: a name that is no column nor ``metric:``/``score:``
    key is a score's."""
    return sort if sort in SORT_COLUMNS or ":" in sort else f"score:{sort}"


def _print_columns(page: Page, columns: list[str], offset: int) -> None:
    """The page as a table of id, name, status and ``columns`` (a field, ``metric:<key>``,
    ``score:<name>`` or a bare score name); ``-`` where a run has no value."""
    table = Table("id", "name", "status", *columns, title=_title(page, offset))
    for row in page.data:
        shown = [_cell(_column(row, column)) for column in columns]
        table.add_row(str(row["id"]), row["name"], _status(row["status"]), *shown)
    console.print(table)


def _column(row: dict[str, Any], column: str) -> Any:
    """A run's value of ``column`` (see :func:`_print_columns`); None when it has none."""
    if column.startswith("metric:"):
        return row["metrics"].get(column[7:])
    if column in row and column != "score_values":
        return row[column]
    return row["score_values"].get(column.removeprefix("score:"))


@app.command()
def scores(api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False) -> None:
    """List the scores of the project's runs (the numbers of their results, by dotted path):
    what `list --sort`, `--where` and `--columns` take."""
    with user_errors(verbose):
        for name in Client.from_environment(api, project).runs.score_names():
            console.print(name, markup=False, highlight=False)


@app.command()
def show(
    experiment_id: RunId,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """One run: status, lease, config, scores beside baselines, files."""
    with user_errors(verbose):
        with arguments():
            detail = Client.from_environment(api, project).runs.get(experiment_id)
        _print_detail(detail)


@app.command()
def follow(
    experiment_id: RunId,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Show a run's progress live until it ends (Ctrl-C stops following, not the run).

    The exit code says how the run ended: 0 completed, 1 failed or lost, 3 cancelled, 130
    when Ctrl-C stopped the following."""
    with user_errors(verbose):
        client = Client.from_environment(api, project)
        with arguments():
            client.runs.get(experiment_id)
        final = _follow_and_show(client, experiment_id)
    _exit_for(final)


@app.command()
def cancel(
    experiment_id: RunId,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Cancel a queued or running run (metrics so far are kept)."""
    with user_errors(verbose):
        with arguments():
            row = Client.from_environment(api, project).runs.cancel(experiment_id)
        console.print(
            f"experiment {experiment_id}: {row['status']}"
            + (" (stop requested)" if row["status"] == "running" else "")
        )


@app.command()
def delete(
    experiment_id: RunId,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Delete a finished or queued run with its metrics and files."""
    with user_errors(verbose):
        with arguments():
            Client.from_environment(api, project).runs.delete(experiment_id)
        console.print(f"deleted experiment {experiment_id}")


@app.command()
def compare(
    runs: Annotated[str | None, typer.Argument(help="Run ids, comma-separated (1,2,3).")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Compare a batch's runs.")] = None,
    study: Annotated[int | None, typer.Option("--study", help="Compare a study's trials.")] = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="Comma-separated metrics (default: those all share)."),
    ] = None,
    score_names: Annotated[
        str | None,
        typer.Option("--scores", help="Comma-separated scores as columns too (default: none)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole comparison (curves too) as JSON.")
    ] = False,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Compare runs (up to 100) side by side: status, the settings that differ, the last
    value of each metric and the scores asked; failed, cancelled, lost and pruned runs
    included."""
    with user_errors(verbose):
        with arguments():
            found = Client.from_environment(api, project).runs.compare(
                runs, batch=batch, study=study, metrics=metrics, scores=score_names
            )
        if as_json:
            console.print_json(data=found)
            return
        dimensions = found["parallel"]["dimensions"]
        table = Table("id", "name", "status", *(d["key"] for d in dimensions),
                      title=f"{len(found['runs'])} experiments compared")  # fmt: skip
        for index, run in enumerate(found["runs"]):
            shown = [_cell(d["values"][index]) for d in dimensions]
            table.add_row(str(run["id"]), run["name"], _status(run["status"]), *shown)
        console.print(table)


def _title(page: Page, offset: int) -> str:
    """A list's title: how many runs match, and from which the page starts."""
    more = "" if page.total_exact else "+"
    return f"{page.total:,}{more} experiments" + (f" (from {offset + 1})" if offset else "")


def _cell(value: Any) -> str:
    """A compared or listed value: ``-`` where the run has none."""
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value)


def submit(
    pipeline: PipelineName,
    set_: SetOptions = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="key=\\[v1,v2]: one run per combination; repeatable."),
    ] = None,
    config: ConfigFile = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (unique).")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Stream progress until the run ends.")
    ] = False,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Queue a run on the server (through the API); --follow shows its progress live.

    With --follow, the exit code says how the runs ended: 0 completed, 1 failed or lost,
    3 cancelled; Ctrl-C stops following (130), not the runs."""
    with user_errors(verbose):
        with arguments():
            settings = {**read_config(config), **parse_sets(set_ or [])}
            grid_values = _grid(grid)
            client = Client.from_environment(api, project)
            created = client.runs.submit(pipeline, settings, name=name, grid=grid_values)
        for row in created:
            console.print(
                f"queued experiment {row['id']} ({row['name']})"
                + (f", batch {row['batch_id']}" if row["batch_id"] else "")
            )
        if not follow:
            return
        finals = _follow_each(client, created)
    _exit_for(*finals)


def _grid(grid: list[str] | None) -> dict[str, Any]:
    """The ``--grid`` options as lists of values by key.

    Raises
    ------
    InvalidParameterError
        When a key's value is not a list of at least one value.
    """
    grid_values = parse_sets(grid or [])
    for key, values in grid_values.items():
        if not isinstance(values, list) or not values:
            raise InvalidParameterError(
                f"--grid {key}= needs a list of values, as {key}=[1,2]; got {values!r}"
            )
    return grid_values


def _follow_each(client: Client, created: list[dict[str, Any]]) -> list[str]:
    """Follow the created runs one after the other; how each ended, up to the first the
    user stopped following (:data:`DETACHED`)."""
    finals: list[str] = []
    for row in created:
        finals.append(_follow_and_show(client, row["id"]))
        if finals[-1] == DETACHED:
            break
    return finals


def _exit_for(*finals: str) -> None:
    """Exit 0 when every run completed; else 130 when the user stopped following, 1 when a
    run failed or was lost, 3 when one was cancelled."""
    if all(final == "completed" for final in finals):
        return
    if DETACHED in finals:
        raise typer.Exit(EXIT_ABORTED)
    raise typer.Exit(EXIT_CANCELLED if set(finals) <= {"completed", "cancelled"} else EXIT_FAILED)


def _follow_and_show(client: Client, experiment_id: int) -> str:
    """Follow the run until it ends, print it whole, and return how it ended
    (:data:`DETACHED` when Ctrl-C stopped the following, which leaves the run going)."""
    try:
        final = _follow(client, experiment_id)
    except KeyboardInterrupt:
        errors.print(
            f"[yellow]stopped following experiment {experiment_id}; it goes on[/yellow] "
            f"(follow again: azuraforge runs follow {experiment_id}; stop it: "
            f"azuraforge runs cancel {experiment_id})",
            highlight=False,
        )
        return DETACHED
    _print_detail(client.runs.get(experiment_id))
    return final


def _follow(client: Client, experiment_id: int) -> str:
    """Show the run's progress from its event stream until it ends; return the final status.

    Raises
    ------
    StoreUnavailableError
        When the stream cannot be opened or closes before the run's end.
    """
    try:
        final = _show_progress(client.runs.events(experiment_id), experiment_id)
    except StoreUnavailableError as e:
        raise StoreUnavailableError(
            f"{e}; see where it stands with: azuraforge runs show {experiment_id}"
        ) from None
    if final is None:
        raise StoreUnavailableError(
            f"the API closed the event stream of experiment {experiment_id} before the run "
            f"ended; follow again with: azuraforge runs follow {experiment_id}"
        )
    return final


def _show_progress(messages: Iterator[dict[str, Any]], experiment_id: int) -> str | None:
    """Draw a progress bar from the stream's messages; the final status, or ``None`` when
    the stream closed first."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"experiment {experiment_id}", total=1.0, note="")
        for message in messages:
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
    return None


def _print_detail(detail: dict[str, Any]) -> None:
    title = f"[bold]experiment {detail['id']}[/bold] {detail['name']} ({detail['pipeline']})"
    console.print(f"{title}: {_status(detail['status'])}", highlight=False)
    when = {k: detail[k] for k in ("created_at", "started_at", "finished_at") if detail[k]}
    times = (f"{k.removesuffix('_at')} {shown_time(v)}" for k, v in when.items())
    console.print("  " + "  ".join(times))
    if detail["lease"]["owner"]:
        console.print(
            f"  worker {detail['worker']}, lease epoch {detail['lease']['epoch']}", highlight=False
        )
    if detail["error"]:
        console.print(f"  [red]{detail['error']}[/red]", highlight=False)
    console.print(f"  config {json.dumps(detail['config'])}", highlight=False)
    if detail.get("notes"):
        console.print("  notes " + detail["notes"].replace("\n", "\n        "), markup=False,
                      highlight=False)  # fmt: skip
    if detail["scores"]:
        console.print(scores_table(detail["scores"]))
    for artifact in detail["artifacts"]:
        console.print(
            f"  artifact {artifact['path']} ({artifact['size']:,} bytes)", highlight=False
        )


def scores_table(scores: dict[str, dict[str, float | None]]) -> Table:
    """A run's test scores: one row per metric, the model's column beside each baseline's."""
    columns: list[str] = []
    for values in scores.values():
        columns += [c for c in values if c not in columns]
    table = Table("metric", *columns, title="Test set")
    for metric, values in scores.items():
        table.add_row(metric, *(_score(values, c) for c in columns))
    return table


def _score(values: dict[str, float | None], column: str) -> str:
    """A test score as the table shows it: blank when absent, n/a when not a number (the
    API sends null for a NaN or infinite score)."""
    if column not in values:
        return ""
    value = values[column]
    return "n/a" if value is None else f"{value:.4g}"


def _status(status: str) -> str:
    colour = {
        "completed": "green",
        "failed": "red",
        "lost": "red",
        "cancelled": "yellow",
        "pruned": "yellow",
        "running": "cyan",
    }
    return f"[{colour.get(status, 'white')}]{status}[/]"
