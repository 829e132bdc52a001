"""``azuraforge stream replay``: replay a price series, learn its next-step direction online
and print the prequential scores and a backtest beside the trivial rules and buy and hold."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from azuraforge.cli.common import Verbose, arguments, console, user_errors
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.datasets.fetching import fetch
from azuraforge.learn.datasets.registry import list_datasets
from azuraforge.stream import CsvReplay
from azuraforge.stream.direction import (
    DirectionReport,
    Row,
    baseline_rules,
    default_features,
    direction_task,
    run_direction,
)
from azuraforge.stream.evaluate import COIN_FLIP_LOG_LOSS
from azuraforge.stream.rows import EventColumns

app = typer.Typer(help="Continuous learning on a stream of events.", no_args_is_help=True)

SHORT_NAMES = {"btc": "btc-hourly", "sp500": "sp500-daily"}
"""Datasets by short name; their quirks are set in :data:`VOLUME_PAIRS`."""
VOLUME_PAIRS = {"btc-hourly": ("Volume BTC", "Volume USD")}


def _replay(source: str, columns: EventColumns) -> CsvReplay:
    """A replay of a dataset (``btc``, ``sp500`` or a registered name) or a CSV file that
    reads only the columns the task needs (``columns``: the time, the close and the volume
    pair): a bad value in a column nothing uses is not a bad row."""
    name = SHORT_NAMES.get(source, source)
    path = Path(source)
    is_file = path.suffix.lower() == ".csv" or path.exists()
    if not is_file or name in list_datasets():  # a dataset's name wins over a file's
        path = next(iter(fetch(name).values()))
        columns = dataclasses.replace(
            columns, volume_pair=columns.volume_pair or VOLUME_PAIRS.get(name)
        )
    return CsvReplay(
        path,
        time_column=columns.time_column,
        columns=[columns.price_column or "close", *(columns.volume_pair or ())],
        price_column=columns.price_column,
        volume_pair=columns.volume_pair,
    )


def _volume_pair(given: str | None) -> tuple[str, str] | None:
    """``--volume-columns BASE,QUOTE`` as a pair."""
    if given is None:
        return None
    pair = [name.strip() for name in given.split(",")]
    if len(pair) != 2 or not all(pair):
        raise InvalidParameterError(
            f"--volume-columns takes two column names, BASE,QUOTE (as 'Volume BTC,Volume "
            f"USD'), got {given!r}"
        )
    return pair[0], pair[1]


def _score_table(title: str, rows: list[Row], chosen: str, bar: Row) -> Table:
    table = Table("model", "accuracy", "± 1 s.e.", "log-loss", "predictions", title=title)
    for row in rows:
        name = f"[bold]{row.name} (chosen)[/bold]" if row.name == chosen else row.name
        loss = "-" if math.isnan(row.log_loss) else f"{row.log_loss:.4f}"
        table.add_row(
            name, f"{row.accuracy:.2%}", f"{row.standard_error:.2%}", loss, f"{row.count:,}"
        )
    need = bar.accuracy + 2 * bar.standard_error
    table.caption = (
        f"bar: {bar.name} + 2 s.e. = {need:.2%}; coin-flip log-loss {COIN_FLIP_LOG_LOSS:.4f}"
    )
    return table


def _print(report: DirectionReport) -> None:
    console.print(
        f"{report.events:,} predictions; best learner on the first 70 %: {report.chosen}"
    )
    rules = set(baseline_rules())
    for title, rows in (
        ("first 70 % (selection)", report.selection),
        ("last 20 %", report.last_share),
        ("last year", report.last_year),
    ):
        bar = max((r for r in rows if r.name in rules), key=lambda r: r.accuracy)
        console.print(_score_table(title, rows, report.chosen, bar))
    table = Table(
        "strategy",
        "total return",
        "Sharpe",
        "max drawdown",
        "changes / year",
        "time long",
        title=f"backtest, last 20 %, net of {report.cost:.2%} per change",
    )
    for result in report.backtests:
        table.add_row(
            result.name,
            f"{result.total_return:+.1%}",
            f"{result.sharpe:.2f}",
            f"{result.max_drawdown:.1%}",
            f"{result.turnover:,.0f}",
            f"{result.exposure:.0%}",
        )
    table.caption = (
        f"Sharpe annualised by √{report.periods_per_year:,.0f} (steps per year measured "
        "from the event times), no risk-free rate"
    )
    console.print(table)


@app.command()
def replay(
    source: Annotated[
        str, typer.Argument(help="btc, sp500, a dataset name, or a CSV file of prices.")
    ],
    cost: Annotated[
        float, typer.Option(help="Cost per position change, a fraction (0.001 = 0.1 %).")
    ] = 0.001,
    horizon: Annotated[
        int, typer.Option(min=1, help="Predict the direction this many events ahead.")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seeds the MLP and the Q-learning agent.")] = 0,
    time_column: Annotated[
        str | None,
        typer.Option(help="The column of event times (default: unix, timestamp, time, date…)."),
    ] = None,
    close_column: Annotated[
        str, typer.Option(help="The column of prices whose direction is predicted.")
    ] = "close",
    volume_columns: Annotated[
        str | None,
        typer.Option(
            help="BASE,QUOTE volume columns of an exchange export ('Volume BTC,Volume USD'): "
            "rows where the two were swapped are swapped back."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Replay a price series test-then-train: learners and trivial rules predict each next
    direction, learn when it is known, and are scored beside each other and buy and hold.
    Only the time, close and volume columns are read."""
    with user_errors(verbose):
        with arguments():
            if not 0 <= cost < 1:
                raise InvalidParameterError(f"--cost must be in [0, 1), got {cost}")
            wanted = EventColumns(time_column, None, close_column, _volume_pair(volume_columns))
        started = time.perf_counter()
        source_events = _replay(source, wanted)
        task = direction_task(
            source_events, features=default_features(close_column), horizon=horizon
        )
        for line in source_events.report.lines():
            console.print(f"[dim]{line}[/dim]")
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task("replay", total=len(task.examples))
            report = run_direction(
                task,
                cost=cost,
                seed=seed,
                progress=lambda done, _: progress.update(bar, completed=done),
            )
        _print(report)
        console.print(f"[dim]{time.perf_counter() - started:.0f} s[/dim]")
