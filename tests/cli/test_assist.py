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


def train(data, out, *options):
    return runner.invoke(
        app,
        ["assist", "train-router", str(data), "--out", str(out), "--embedder", "ngrams", *options],
    )


def test_train_eval_and_route_on_a_users_own_labels(labelled, tmp_path):
    """A router of greet and weather answered general_chat and code_debug, labels it lacks."""
    out = tmp_path / "router"
    trained = train(labelled, out, "--fallback", "greet")
    assert trained.exit_code == 0, trained.output
    assert "8 examples: greet 4, weather 4" in trained.output
    assert "fallback greet, code rules off" in " ".join(trained.output.split())
    assert "warning" not in trained.output  # even counts
    evaluated = runner.invoke(app, ["assist", "eval-router", str(labelled), "--router", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "char-ngrams-2-3-4-4096 router, threshold 0.7" in " ".join(evaluated.output.split())
    assert "accuracy" in evaluated.output and "weather" in evaluated.output
    for message in ("Traceback (most recent call last)", "xyzzy qwv"):
        routed = runner.invoke(app, ["assist", "route", message, "--router", str(out)])
        assert routed.exit_code == 0, routed.output
        assert routed.output.split()[0] in ("greet", "weather"), routed.output


@pytest.mark.parametrize("message", ["", "   "])
def test_routing_a_message_of_only_spaces_is_a_one_line_error(labelled, tmp_path, message):
    out = tmp_path / "router"
    assert train(labelled, out, "--fallback", "greet").exit_code == 0
    routed = runner.invoke(app, ["assist", "route", message, "--router", str(out)])
    assert routed.exit_code == 1, routed.output
    assert "a message needs some text" in routed.output and "Traceback" not in routed.output


def test_labels_without_general_chat_need_a_fallback_that_is_a_label(labelled, tmp_path):
    missing = train(labelled, tmp_path / "r")
    assert missing.exit_code == 2 and "no general_chat" in missing.output
    assert "--fallback LABEL" in missing.output
    wrong = train(labelled, tmp_path / "r", "--fallback", "general_chat")
    assert wrong.exit_code == 2
    assert "fallback 'general_chat' is not a label; labels: greet, weather" in wrong.output
    rules = train(labelled, tmp_path / "r", "--fallback", "greet", "--code-rules")
    assert rules.exit_code == 2 and "code_debug, which is not a label" in rules.output
    assert not (tmp_path / "r").exists()
    assert "Traceback" not in missing.output + wrong.output + rules.output


def test_eval_router_takes_a_threshold_over_the_saved_one(labelled, tmp_path):
    out = tmp_path / "router"
    assert train(labelled, out, "--fallback", "greet").exit_code == 0
    fallbacks = {}
    for threshold in ("0", "1"):
        evaluated = runner.invoke(
            app,
            [
                "assist",
                "eval-router",
                str(labelled),
                "--router",
                str(out),
                "--threshold",
                threshold,
            ],
        )
        assert evaluated.exit_code == 0, evaluated.output
        assert f"threshold {threshold}" in " ".join(evaluated.output.split())
        fallbacks[threshold] = evaluated.output.split("fallbacks ")[1].split()[0]
    assert fallbacks == {"0": "0", "1": "8"}
    beyond = runner.invoke(
        app, ["assist", "eval-router", str(labelled), "--router", str(out), "--threshold", "1.5"]
    )
    assert beyond.exit_code == 2 and "--threshold" in beyond.output


def test_bad_input_is_one_line_and_an_exit_code(labelled, tmp_path):
    missing = runner.invoke(
        app, ["assist", "eval-router", str(tmp_path / "no.jsonl"), "--router", str(tmp_path)]
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
    trained = train(path, out, "--fallback", "greet")
    assert trained.exit_code == 0, trained.output
    shown = " ".join(trained.output.split())
    assert "warning: intent 'weather' has 2 examples against 25 for 'greet'" in shown
    assert "add examples or templates to it" in shown
