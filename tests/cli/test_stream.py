"""``azuraforge stream replay``: a real file's slice replayed with the tables beside the
rules, and bad input refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.learn.datasets.fetching import fetch

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("real_data")  # the BTC file from the mirror, never a download


def _btc_slice(tmp_path: Path, rows: int) -> Path:
    """The first ``rows`` data rows of the real BTC file, with its banner and header."""
    lines = fetch("btc-hourly")["Bitstamp_BTCUSD_1h_2018_2022.csv"].read_text().splitlines()
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(lines[: rows + 2]) + "\n")
    return path


def test_replay_prints_scores_beside_the_rules_and_buy_and_hold(tmp_path) -> None:
    result = runner.invoke(app, ["stream", "replay", str(_btc_slice(tmp_path, 1500))])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "skipped banner line(s) 1" in out and "newest first" in out
    for shown in (
        "first 70 % (selection)",
        "last 20 %",
        "opposite of last",
        "always up",
        "buy and hold",
        "q-learning",
        "(chosen)",
        "annualised by √8,7",
        "last year (the whole replay: it spans less than a year)",  # 1,500 hours
    ):
        assert shown in out, shown
    verdict = " ".join(out.split()).split("verdict on the last 20 %: ")[1]
    assert "cleared the bar for chance" in verdict and "buy and hold after costs" in verdict


def test_replay_refuses_bad_input_in_one_line(tmp_path) -> None:
    result = runner.invoke(app, ["stream", "replay", "btc", "--cost", "1.5"])
    assert result.exit_code == 2  # an option out of range: a usage error, as everywhere
    assert "--cost must be in [0, 1), got 1.5" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["stream", "replay", str(tmp_path / "none.csv")])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    assert "none.csv" in missing.output
    short = tmp_path / "short.csv"
    short.write_text("time,close\n" + "".join(f"{3600 * i},{100 + i}\n" for i in range(10)))
    result = runner.invoke(app, ["stream", "replay", str(short)])
    assert result.exit_code != 0 and "no example: 10 events" in result.output
    nameless = runner.invoke(app, ["stream", "replay", "ethereum"])
    assert nameless.exit_code != 0 and "no dataset named 'ethereum'" in nameless.output


def _another_exchange(tmp_path: Path, rows: int = 600) -> Path:
    """An hourly export of another shape than ours: a banner of two fields above the header,
    the time in a column named ``Open time`` and written in seconds and milliseconds by
    turns, the price in ``Close Price``, newest first, and a ``tradecount`` column that is
    ``NULL`` in the older 80 % (two downloads stacked)."""
    header = "Open time,symbol,Open,Close Price,Volume ETH,Volume USDT,tradecount"
    lines, price, start = [], 100.0, 1_577_836_800
    generator = np.random.default_rng(7)
    for i in range(rows):
        price *= float(np.exp(generator.normal(0, 0.01)))
        when = (start + 3600 * i) * (1000 if i % 2 else 1)
        trades = "NULL" if i < rows * 0.8 else str(100 + i)
        lines.append(f"{when},ETH/USDT,{price:.2f},{price:.2f},2.0,{2 * price:.2f},{trades}")
    path = tmp_path / "eth.csv"
    banner = "https://www.example.com/,Created on 12-30-2020"
    path.write_text("\n".join([banner, header, *reversed(lines)]) + "\n")
    return path


def test_another_exchanges_export_is_replayed_whole_by_the_columns_named(tmp_path) -> None:
    """It lost 79 % of its rows as unparseable (a NULL in a column nothing uses) and took
    the two-field banner for its header."""
    path = _another_exchange(tmp_path)
    named = ["--time-column", "open time", "--close-column", "close_price"]  # as the file, or not
    pair = ["--volume-columns", "Volume ETH,Volume USDT"]
    result = runner.invoke(app, ["stream", "replay", str(path), *named, *pair])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # the console wraps long lines
    assert "600 events from 600 rows, 2020-01-01 00:00 to 2020-01-25 23:00 UTC" in out
    assert "skipped banner line(s) 1" in out and out.count("skipped") == 1  # no row skipped
    assert "each read: 300 in Unix milliseconds, 300 in Unix seconds" in out
    unnamed = runner.invoke(app, ["stream", "replay", str(path)])
    assert unnamed.exit_code == 1
    refused = " ".join(unnamed.output.split())
    assert "name the time column with time_column=NAME (the CLI's --time-column NAME)" in refused
    bad_pair = runner.invoke(app, ["stream", "replay", str(path), *named, "--volume-columns", "x"])
    assert bad_pair.exit_code == 2 and "--volume-columns takes two column names" in bad_pair.output


def test_a_file_of_which_over_1_percent_is_unreadable_is_refused_unless_allowed(tmp_path):
    """It replayed 21 % of a file and exited 0: now it says what it could not read."""
    rows = [
        f"{1_600_000_000 + 3600 * i},{'x' if i % 20 == 0 else 100 + i % 7}" for i in range(800)
    ]
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(["time,close", *rows, rows[-1]]) + "\n")  # and one repeat
    refused = runner.invoke(app, ["stream", "replay", str(path)])
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    refusal = "40 of 801 rows could not be used (5.0%, over 1.0%): unparseable 40 (first: line 2:"
    assert refusal in message
    assert "--allow-skips" in message and "duplicate" not in message
    allowed = runner.invoke(app, ["stream", "replay", str(path), "--allow-skips"])
    assert allowed.exit_code == 0, allowed.output
    assert "skipped 40 row(s), unparseable" in allowed.output
