"""``azuraforge stream replay``: replay a price series, learn its next-step direction online
and print the prequential scores and a backtest beside the trivial rules and buy and hold."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from azuraforge.cli import streams
from azuraforge.cli.common import Verbose, arguments, console, user_errors
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.datasets.csvfiles import column_key
from azuraforge.learn.datasets.fetching import fetch
from azuraforge.learn.datasets.registry import list_datasets
from azuraforge.stream import CsvReplay
from azuraforge.stream.base import MOST_SKIPPED
from azuraforge.stream.direction import (
    BUY_AND_HOLD,
    DirectionReport,
    Row,
    Task,
    baseline_rules,
    default_features,
    direction_task,
    run_direction,
)
from azuraforge.stream.evaluate import COIN_FLIP_LOG_LOSS

app = typer.Typer(help="Continuous learning on a stream of events.", no_args_is_help=True)

SHORT_NAMES = {"btc": "btc-hourly", "sp500": "sp500-daily"}
"""Datasets by short name; their quirks are set in :data:`VOLUME_PAIRS`."""
VOLUME_PAIRS = {"btc-hourly": ("Volume BTC", "Volume USD")}


def _replay(
    source: str, time_column: str | None, close: str, volume_pair: tuple[str, str] | None
) -> CsvReplay:
    """A replay of a dataset (``btc``, ``sp500`` or a registered name) or a CSV file that
    reads only the columns the task needs (the time, the close and the volume pair): a bad
    value in a column nothing uses is not a bad row."""
    name = SHORT_NAMES.get(source, source)
    path = Path(source)
    is_file = path.suffix.lower() == ".csv" or path.exists()
    if not is_file or name in list_datasets():  # a dataset's name wins over a file's
        path = next(iter(fetch(name).values()))
        volume_pair = volume_pair or VOLUME_PAIRS.get(name)
    return CsvReplay(
        path,
        time_column=time_column,
        columns=[close, *(volume_pair or ())],
        price_column=close,
        volume_pair=volume_pair,
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
    whole = report.last_year[0].count >= report.events
    last_year = "last year (the whole replay: it spans less than a year)" if whole else "last year"
    for title, rows in (
        ("first 70 % (selection)", report.selection),
        ("last 20 %", report.last_share),
        (last_year, report.last_year),
    ):
        console.print(_score_table(title, rows, report.chosen, _chance_bar(rows, rules)))
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
    console.print(verdict(report))


def _chance_bar(rows: list[Row], rules: set[str]) -> Row:
    """The best trivial rule of ``rows``: a learner must beat it by 2 s.e. to show skill."""
    return max((r for r in rows if r.name in rules), key=lambda r: r.accuracy)


def verdict(report: DirectionReport) -> str:
    """One line: whether a learner cleared the bar for chance on the last 20 % (the best rule
    + 2 s.e.), and whether a strategy beat buy and hold there after costs."""
    rules = set(baseline_rules())
    bar = _chance_bar(report.last_share, rules)
    need = bar.accuracy + 2 * bar.standard_error
    cleared = [r.name for r in report.last_share if r.name not in rules and r.accuracy > need]
    hold = next(b for b in report.backtests if b.name == BUY_AND_HOLD)
    beat = [b.name for b in report.backtests if b.total_return > hold.total_return]
    skill = (
        f"{', '.join(cleared)} cleared the bar for chance ({need:.2%})"
        if cleared
        else f"no learner cleared the bar for chance ({bar.name} + 2 s.e. = {need:.2%})"
    )
    edge = (
        f"{', '.join(beat)} beat buy and hold after costs"
        if beat
        else "no strategy beat buy and hold after costs"
    )
    return f"verdict on the last 20 %: {skill}; {edge}"


def check_skips(replay: CsvReplay, allowed: bool) -> None:
    """Refuse a replay that could not use more than :data:`MOST_SKIPPED` of its rows (exact
    repeats of a time aside, which are dropped and reported), unless ``allowed``.

    Raises
    ------
    DataFormatError
        Naming the count per reason and the first line of each.
    """
    if not allowed:
        fix = ("Name the columns the replay reads (--time-column, --close-column), mend the "
               "file, or pass --allow-skips to replay the rest")  # fmt: skip
        replay.report.refuse_unusable(str(replay.path), MOST_SKIPPED, fix)


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
    allow_skips: Annotated[
        bool,
        typer.Option(
            "--allow-skips",
            help="Replay the rows that read even when over 1 % of them do not.",
        ),
    ] = False,
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
            volume_pair = _volume_pair(volume_columns)
        started = time.perf_counter()
        source_events = _replay(source, time_column, close_column, volume_pair)
        check_skips(source_events, allow_skips)
        task = _task(source_events, close_column, horizon)
        for line in source_events.report.lines():
            console.print(f"[dim]{line}[/dim]")
        _print(_run_with_progress(task, cost, seed))
        console.print(f"[dim]{time.perf_counter() - started:.0f} s[/dim]")


def _task(source_events: CsvReplay, close_column: str, horizon: int) -> Task:
    """The direction task of the replay's events, its features made of the close column."""
    # The file's own spelling of the column (names match case, spaces and underscores aside)
    first = next(iter(source_events)).values
    close = next(name for name in first if column_key(name) == column_key(close_column))
    return direction_task(source_events, features=default_features(close), horizon=horizon)


def _run_with_progress(task: Task, cost: float, seed: int) -> DirectionReport:
    """Run the task's learners and rules, showing a progress bar while they run."""
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("replay", total=len(task.examples))
        return run_direction(
            task,
            cost=cost,
            seed=seed,
            progress=lambda done, _: progress.update(bar, completed=done),
        )


# The commands of streams a server runs (cli/streams.py), beside replay.
app.command()(streams.start)
app.command("list")(streams.list_)
app.command()(streams.show)
app.command()(streams.stop)
app.command()(streams.schema)
app.command()(streams.trigger)
app.command()(streams.promote)
app.command()(streams.rollback)
app.command()(streams.lineage)
