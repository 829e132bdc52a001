"""``azuraforge assist``: train a router on a user's own file, evaluate it, route a message."""

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app

runner = CliRunner()

ROWS = [
    ("merhaba nasılsın", "greet"),
    ("hello there friend", "greet"),
    ("good morning to you", "greet"),
    ("günaydın dostum", "greet"),
    ("what is the weather in Paris", "weather"),
    ("yarın İzmir'de hava nasıl", "weather"),
    ("will it rain tomorrow", "weather"),
    ("bugün yağmur yağacak mı", "weather"),
]


@pytest.fixture
def labelled(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in ROWS))
    return path


def test_train_eval_and_route_on_a_users_own_labels(labelled, tmp_path):
    out = tmp_path / "router"
    trained = runner.invoke(
        app, ["assist", "train-router", str(labelled), "--out", str(out), "--embedder", "ngrams"]
    )
    assert trained.exit_code == 0, trained.output
    assert "8 examples: greet 4, weather 4" in trained.output
    assert "warning" not in trained.output  # even counts
    evaluated = runner.invoke(
        app, ["assist", "eval-router", str(labelled), "--router", str(out), "--embedder", "ngrams"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "accuracy" in evaluated.output and "weather" in evaluated.output
    routed = runner.invoke(
        app,
        [
            "assist",
            "route",
            "Traceback (most recent call last)",
            "--router",
            str(out),
            "--embedder",
            "ngrams",
        ],
    )
    assert routed.exit_code == 0 and routed.output.startswith("code_debug (1.00, rule")


def test_bad_input_is_one_line_and_an_exit_code(labelled, tmp_path):
    missing = runner.invoke(
        app,
        [
            "assist",
            "eval-router",
            str(tmp_path / "no.jsonl"),
            "--router",
            str(tmp_path),
            "--embedder",
            "ngrams",
        ],
    )
    assert missing.exit_code == 1 and "no readable router" in missing.output
    wrong = runner.invoke(
        app,
        ["assist", "train-router", str(labelled), "--out", str(tmp_path), "--embedder", "bert"],
    )
    assert wrong.exit_code == 2 and "--embedder must be e5 or ngrams, got 'bert'" in wrong.output
    absent = runner.invoke(
        app, ["assist", "train-router", "nope.csv", "--out", str(tmp_path), "--embedder", "ngrams"]
    )
    assert absent.exit_code == 2 and "no file 'nope.csv'" in absent.output
    assert "Traceback" not in missing.output + wrong.output + absent.output


def test_very_uneven_intents_are_warned_of(tmp_path):
    """One intent had 2 examples against 90 and nothing said so."""
    path = tmp_path / "uneven.csv"
    rows = [f"greeting number {i},greet" for i in range(25)] + ["will it rain,weather"] * 2
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "router"
    trained = runner.invoke(
        app, ["assist", "train-router", str(path), "--out", str(out), "--embedder", "ngrams"]
    )
    assert trained.exit_code == 0, trained.output
    shown = " ".join(trained.output.split())
    assert "warning: intent 'weather' has 2 examples against 25 for 'greet'" in shown
    assert "add examples or templates to it" in shown
