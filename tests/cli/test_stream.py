"""``azuraforge stream replay``: a real file's slice replayed with the tables beside the
rules, and bad input refused in one line."""

from __future__ import annotations

from pathlib import Path

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
    ):
        assert shown in out, shown


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
