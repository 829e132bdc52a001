"""``azuraforge``: list pipelines, run one, predict with a saved model.

Errors print one red line; ``--verbose`` adds the traceback. Exit codes follow one rule:

====  =====================================================================================
0     done
1     the data, the environment or the run failed (a file that cannot be read as documented,
      a data file a setting names that does not exist, such as ``csv=...``, a pipeline
      plugin that fails to load, a run error)
2     the command was used wrongly (unknown option, pipeline or setting, a bad value or
      combination of values, a ``--input``, ``--config`` or artifact path that does not
      exist); checked before any data is loaded
3     the run was cancelled (first Ctrl-C): it scored, reported and saved a partly trained
      model
130   aborted (second Ctrl-C): nothing more was written
====  =====================================================================================
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from azuraforge.apps import RunResult, discover, get_pipeline
from azuraforge.cli import (
    access,
    assist,
    blobs,
    chat,
    data,
    db,
    models,
    notes,
    plugins,
    runs,
    serve,
    server_settings,
    stream,
    tags,
    tracking,
    tune,
)
from azuraforge.cli.common import (
    EXIT_CANCELLED,
    ConfigFile,
    PipelineName,
    SetOptions,
    Verbose,
    arguments,
    console,
    errors,
    parse_sets,
    read_config,
    user_errors,
)
from azuraforge.cli.recording import ABORTED, RunRecording
from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import write_csv

app = typer.Typer(
    help="AzuraForge: build, train, track and serve machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(assist.app, name="assist")
app.command()(access.login)
app.command()(access.logout)
app.command()(access.audit)
app.add_typer(access.users, name="users")
app.add_typer(access.projects, name="projects")
app.add_typer(access.tokens, name="tokens")
app.add_typer(access.keys, name="keys")
app.add_typer(blobs.app, name="blobs")
app.add_typer(data.app, name="data")
app.add_typer(db.app, name="db")
app.add_typer(runs.app, name="runs")
app.add_typer(runs.app, name="experiments", hidden=True, deprecated=True)  # for one release
app.add_typer(models.app, name="models")
app.add_typer(server_settings.app, name="settings")
app.add_typer(stream.app, name="stream")
app.add_typer(tracking.app, name="track")
app.command()(chat.chat)
app.command()(runs.submit)
app.command()(notes.rename)
app.command()(notes.note)
app.command()(tags.tag)
app.command()(serve.serve)
app.command()(serve.worker)
app.command()(plugins.plugins)
app.command()(tune.tune)
app.add_typer(tune.app, name="studies")


@app.command()
def pipelines(verbose: Verbose = False) -> None:
    """List the installed pipelines (entry-point group azuraforge.pipelines) and those of the
    plugin folder (plugins_dir)."""
    with user_errors(verbose):
        plugins.load_plugins()
        table = Table("name", "description", "from", "status")
        for name, plugin in sorted(discover().items()):
            description = plugin.pipeline.description if plugin.pipeline else ""
            status = (
                "[green]ok[/green]" if plugin.pipeline else f"[red]{escape(plugin.error)}[/red]"
            )
            table.add_row(name, description, plugin.distribution, status)
        console.print(table)


@app.command()
def run(
    pipeline: PipelineName,
    set_: SetOptions = None,
    config: ConfigFile = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where run directories are created.")
    ] = Path("runs"),
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record",
            help="Record the run in the platform's store (AZURAFORGE_DATABASE_URL), so it "
            "appears in `azuraforge runs list`.",
        ),
    ] = True,
    verbose: Verbose = False,
) -> None:
    """Train and evaluate a pipeline; print its test metrics beside the baselines.

    Exit code 3 when the run was cancelled with Ctrl-C (its partly trained model is saved)."""
    with user_errors(verbose):
        plugins.load_plugins()
        with arguments():
            pipeline_class = get_pipeline(pipeline)
            settings = {**read_config(config), **parse_sets(set_ or [])}
            validated = pipeline_class.make_config(settings)
            _check_output_dir(output_dir)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")  # two runs never share a folder
        folder = output_dir / f"{pipeline}-{stamp}"
        settings = validated.model_dump(mode="json")
        console.print(f"[bold]{pipeline}[/bold] {settings}", highlight=False)
        recording = RunRecording.start(pipeline, settings, folder) if record else None
        result = _run_recorded(pipeline_class(), validated, folder, recording)
        _print_result(result)
        if recording is not None:
            recording.end(result)
    if result.cancelled:
        raise typer.Exit(EXIT_CANCELLED)


def _run_recorded(
    pipeline: Any, config: Any, folder: Path, recording: RunRecording | None
) -> RunResult:
    """Run with the store's context when recording (ending the record if the run raises),
    else with a local one."""
    if recording is None:
        ctx = LocalContext(output_dir=folder, show_progress=True)
        with _cancel_on_interrupt(ctx):
            result: RunResult = pipeline.run(config, ctx)
        return result
    try:
        with recording.running(), _cancel_on_interrupt(recording.ctx):
            result = pipeline.run(config, recording.ctx)
    except KeyboardInterrupt:
        recording.end(None, ABORTED)
        raise
    except Exception as e:
        recording.end(None, f"{type(e).__name__}: {e}")
        raise
    return result


@contextmanager
def _cancel_on_interrupt(ctx: Any) -> Iterator[None]:
    """First Ctrl-C: stop training after the current batch and still score, report and save.
    Second Ctrl-C: abort."""

    def handler(signum: int, frame: Any) -> None:
        if ctx.should_stop():
            raise KeyboardInterrupt
        ctx.cancel()
        errors.print("stopping after this batch; Ctrl-C again to abort")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_result(result: RunResult) -> None:
    console.print(_test_table(result.metrics))
    for note in result.notes:
        console.print(note, highlight=False)
    if result.training is not None:
        style = "bold yellow" if result.cancelled else ""
        console.print(result.training.describe(), style=style, highlight=False)
    if result.artifact_dir:
        console.print(f"artifact: {result.artifact_dir}")
    if result.report_path:
        console.print(f"report:   {result.report_path}")


def _test_table(metrics: dict[str, dict[str, float]]) -> Table:
    """The test scores: one row per metric, a column for the model and each baseline."""
    columns: list[str] = []
    for values in metrics.values():
        columns += [c for c in values if c not in columns]
    table = Table("metric", *columns, title="Test set")
    for name, values in metrics.items():
        table.add_row(name, *(_format(values.get(c)) for c in columns))
    return table


def _format(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


@app.command()
def predict(
    artifact: Annotated[Path, typer.Argument(help="A run's artifact directory.")],
    input_: Annotated[Path, typer.Option("--input", help="CSV of raw input rows.")],
    output: Annotated[
        Path | None, typer.Option("--output", help="Write predictions here (CSV).")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Predict with a saved model from raw rows in a CSV file."""
    with user_errors(verbose):
        with arguments():
            _check_input_file(input_)
            _check_artifact_dir(artifact)
            if output is not None:
                _check_output_file(output)
        loaded = ModelArtifact.load(artifact)  # from here on, a problem is the data's
        pipeline = get_pipeline(loaded.pipeline)
        _write_predictions(pipeline().predict(loaded, input_), output)


def _check_artifact_dir(path: Path) -> None:
    if not all((path / name).is_file() for name in ("artifact.json", "model.npz")):
        raise NotFoundError(
            f"no model artifact at {path}: an artifact is the directory a run printed, holding "
            "artifact.json and model.npz"
        )


def _check_input_file(path: Path) -> None:
    if not path.is_file():
        raise NotFoundError(f"no input file at {path}")


def _check_output_file(path: Path) -> None:
    if path.is_dir():
        raise InvalidParameterError(f"--output {path} is a folder; name a file to write")
    if not path.parent.is_dir():
        raise NotFoundError(
            f"--output {path}: the folder {path.parent} does not exist; create it first"
        )


def _check_output_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise InvalidParameterError(f"--output-dir {path} is a file; name a folder")


def _write_predictions(columns: dict[str, np.ndarray], output: Path | None) -> None:
    """CSV with one column per key (:func:`write_csv`), to ``output`` or standard output."""
    with output.open("w") if output is not None else nullcontext(sys.stdout) as handle:
        count = write_csv(handle, columns)
    if output is not None:
        console.print(f"wrote {count} predictions to {output}")


def main() -> None:
    """Run the command line (the script's entry point, :func:`azuraforge.cli.run`, calls it)."""
    app()
