"""``azuraforge tune`` and ``azuraforge studies list|show|cancel``: hyper-parameter studies
through the REST API of a running ``azuraforge serve``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
    user_errors,
)
from azuraforge.client import Client
from azuraforge.errors import InvalidParameterError

app = typer.Typer(help="List, inspect and cancel hyper-parameter studies.", no_args_is_help=True)
StudyId = Annotated[int, typer.Argument(help="Study id.")]
FINISHED = ("completed", "cancelled", "failed")
DETACHED = "detached"
POLL_SECONDS = 1.0


def read_space(path: Path) -> dict[str, Any]:
    """The search space a YAML (or JSON) file holds: ``setting: {type: ..., ...}`` entries.

    Raises
    ------
    InvalidParameterError
        In one line naming the file, when it cannot be read or holds no mapping.
    """
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidParameterError(f"cannot read space file {path}: {e}") from None
    except yaml.YAMLError as e:
        problem = str(e).replace("\n", " ")
        raise InvalidParameterError(f"space file {path} is not valid YAML: {problem}") from None
    if not isinstance(data, dict) or not data:
        raise InvalidParameterError(
            f"space file {path} must map each setting to a range or choices, as "
            "'lr: {type: float, low: 0.0001, high: 0.1, log: true}'; got "
            f"{type(data).__name__}"
        )
    return data


def tune(
    pipeline: PipelineName,
    space: Annotated[Path, typer.Option("--space", help="YAML file of the search space.")],
    trials: Annotated[int, typer.Option("--trials", help="Trial budget.", min=1)] = 20,
    parallel: Annotated[
        int, typer.Option("--parallel", help="Trials queued or running at once.", min=1)
    ] = 1,
    set_: SetOptions = None,
    config: ConfigFile = None,
    objective: Annotated[
        str, typer.Option("--objective", help="Logged metric to optimise.")
    ] = "val_loss",
    direction: Annotated[
        str, typer.Option("--direction", help="minimize or maximize.")
    ] = "minimize",
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, random or grid.")] = "tpe",
    pruner: Annotated[str, typer.Option("--pruner", help="median, hyperband or none.")] = "median",
    name: Annotated[str | None, typer.Option("--name", help="Study name (unique).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seeds the sampler.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Show progress until the study ends.")
    ] = True,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Run a hyper-parameter study on the server: trials run as runs on its workers; a
    progress bar of finished trials, then the best trial.

    The exit code says how the study ended: 0 completed, 3 cancelled, 1 failed; Ctrl-C stops
    following (130), not the study (azuraforge studies cancel ID stops it)."""
    with user_errors(verbose):
        with arguments():
            settings = {**read_config(config), **parse_sets(set_ or [])}
            client = Client.from_environment(api, project)
            study = client.studies.create(
                pipeline, read_space(space), config=settings, objective=objective,
                direction=direction, sampler=sampler, pruner=pruner, n_trials=trials,
                parallelism=parallel, seed=seed, name=name,
            )  # fmt: skip
        console.print(
            f"study {study['id']} ({study['name']}): {study['n_trials']} trials, "
            f"{study['parallelism']} at once, {study['sampler']} sampler, {study['pruner']} "
            f"pruner, {study['direction']} {study['objective']}",
            highlight=False,
        )
        if not follow:
            return
        final = _follow(client, study["id"])
    _exit_for(final)


def _follow(client: Client, study_id: int) -> str:
    """Show the study's progress until it ends, then its best trial; how it ended
    (:data:`DETACHED` when Ctrl-C stopped the following)."""
    try:
        summary = _watch(client, study_id)
    except KeyboardInterrupt:
        errors.print(
            f"[yellow]stopped following study {study_id}; it goes on[/yellow] (see it: "
            f"azuraforge studies show {study_id}; stop it: azuraforge studies cancel "
            f"{study_id})",
            highlight=False,
        )
        return DETACHED
    _print_summary(client, study_id)
    return str(summary["status"])


def _watch(client: Client, study_id: int) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"study {study_id}", total=None, note="")
        while True:
            summary = client.studies.summary(study_id)
            best = summary["best"]
            note = f"best {best['value']:.6g} (trial {best['number']})" if best else ""
            done = summary["trials_finished"]
            progress.update(task, total=summary["n_trials"], completed=done, note=note)
            if summary["status"] in FINISHED:
                return summary
            time.sleep(POLL_SECONDS)


def _exit_for(final: str) -> None:
    if final == "completed":
        return
    if final == DETACHED:
        raise typer.Exit(EXIT_ABORTED)
    raise typer.Exit(EXIT_CANCELLED if final == "cancelled" else EXIT_FAILED)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """A page of studies, newest first."""
    with user_errors(verbose):
        with arguments():
            page = Client.from_environment(api, project).studies.list(limit=limit, offset=offset)
        table = Table("id", "name", "pipeline", "status", "trials", "objective",
                      title=f"{page.total:,} studies")  # fmt: skip
        for row in page.data:
            table.add_row(
                str(row["id"]),
                row["name"],
                row["pipeline"],
                row["status"],
                f"{row['trials_created']}/{row['n_trials']}",
                f"{row['direction']} {row['objective']}",
            )
        console.print(table)


@app.command()
def show(
    study_id: StudyId, api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """One study: its trials, best trial and parameter importances."""
    with user_errors(verbose):
        with arguments():
            client = Client.from_environment(api, project)
            detail = client.studies.get(study_id)
        table = Table("trial", "run", "status", "value", "params")
        for trial in detail["trials"]:
            value = "" if trial["value"] is None else f"{trial['value']:.6g}"
            run = "" if trial["run_id"] is None else str(trial["run_id"])
            table.add_row(str(trial["number"]), run, trial["status"], value,
                          json.dumps(trial["params"]))  # fmt: skip
        console.print(table)
        _print_summary(client, study_id)


@app.command()
def cancel(
    study_id: StudyId, api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """Cancel a study: queued trials are dropped, running ones stopped."""
    with user_errors(verbose):
        with arguments():
            study = Client.from_environment(api, project).studies.cancel(study_id)
        stopping = " (stopping its running trials)" if study["status"] == "running" else ""
        console.print(f"study {study_id}: {study['status']}{stopping}")


def _print_summary(client: Client, study_id: int) -> None:
    """The study's trials counted by status, its best trial and parameter importances."""
    summary = client.studies.summary(study_id)
    found = client.studies.importances(study_id)
    shown = ", ".join(f"{count} {state}" for state, count in sorted(summary["counts"].items()))
    console.print(
        f"[bold]study {summary['id']}[/bold] {summary['name']}: {summary['status']} ({shown})",
        highlight=False,
    )
    best = summary["best"]
    if best is None:
        console.print("  no trial completed", highlight=False)
    else:
        console.print(
            f"  best trial {best['number']} (experiment {best['run_id']}): "
            f"{summary['objective']}={best['value']:.6g} with {json.dumps(best['params'])}",
            highlight=False,
        )
    if found["importances"]:
        ranked = sorted(found["importances"].items(), key=lambda item: -item[1])
        sampled = "" if found["sampled"] == found["completed"] else (
            f" (on {found['sampled']:,} of {found['completed']:,} completed trials)"
        )  # fmt: skip
        console.print("  importances " + ", ".join(f"{k} {v:.2f}" for k, v in ranked) + sampled)
    elif found["note"]:
        console.print(f"  importances: {found['note']}", highlight=False)
