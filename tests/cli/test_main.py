"""The command line: listing, running with settings, predicting, and bad input."""

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from azuraforge.cli.main import app

runner = CliRunner()


pytestmark = pytest.mark.filterwarnings("ignore:pipeline 'broken' failed to load")


@pytest.fixture
def installed(plugin_distribution):
    plugin_distribution({"constant": "fakeplugin:Constant", "broken": "fakeplugin.nope:X"})


def test_pipelines_lists_names_sources_and_failures(installed):
    result = runner.invoke(app, ["pipelines"])
    assert result.exit_code == 0
    assert "constant" in result.output and "fakeplugin 0.1" in result.output
    assert "import failed" in result.output


def test_run_prints_metrics_beside_baselines(installed, tmp_path):
    result = runner.invoke(
        app, ["run", "constant", "--set", "value=1.5", "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "persistence" in result.output and "1.5" in result.output


def test_config_file_with_set_overriding_it(installed, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("value: 3.0\nepochs: 1\n")
    result = runner.invoke(
        app,
        [
            "run",
            "constant",
            "--config",
            str(config),
            "--set",
            "value=4.25",
            "--output-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0 and "4.25" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "valu=2"], "unknown setting 'valu'"),
        (["--set", "epochs=many"], "epochs:"),
        (["--set", "novalue"], "--set needs key=value, got 'novalue'"),
    ],
)
def test_bad_settings_give_one_line_and_exit_2(installed, tmp_path, arguments, message):
    result = runner.invoke(app, ["run", "constant", *arguments, "--output-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_bad_config_file_and_unknown_pipeline(installed, tmp_path):
    config = tmp_path / "list.yaml"
    config.write_text("- 1\n- 2\n")
    result = runner.invoke(app, ["run", "constant", "--config", str(config)])
    assert result.exit_code == 2 and "must hold key: value settings" in result.output
    result = runner.invoke(app, ["run", "constnat"])
    assert result.exit_code == 2 and "no pipeline named 'constnat'" in result.output


def test_a_plugin_that_fails_to_import_exits_1_not_as_a_usage_error(installed, tmp_path):
    result = runner.invoke(app, ["run", "broken", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "pipeline 'broken' cannot be used: import failed" in result.output


def _rows(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n")
    return str(rows)


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        # 2: the command was used wrongly
        (lambda t: ["run", "constant", "--config", str(t / "missing.yaml")], 2, "missing.yaml"),
        (lambda t: ["run", "constnat"], 2, "no pipeline named 'constnat'"),
        (lambda t: ["run", "constant", "--set", "epochs=0.5"], 2, "epochs"),
        (lambda t: ["run", "constant", "--bogus"], 2, "No such option"),
        (lambda t: ["predict", str(t), "--input", str(t / "no.csv")], 2, "no input file"),
        (lambda t: ["predict", str(t / "none"), "--input", _rows(t)], 2, "no model artifact"),
        # 1: the data or the run failed
        (lambda t: ["run", "constant", "--set", "data_error=line 3 is bad"], 1, "line 3 is bad"),
        # 3: cancelled, results kept
        (lambda t: ["run", "constant", "--set", "epochs=5", "--set", "interrupt_at_epoch=3"],
         3, "Cancelled during epoch 3 of 5, after 2 complete epochs"),
    ],
)  # fmt: skip
def test_exit_codes_follow_one_rule(installed, tmp_path, command, code, message):
    result = runner.invoke(
        app,
        [
            *command(tmp_path),
            *(["--output-dir", str(tmp_path)] if command(tmp_path)[0] == "run" else []),
        ],
    )
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def _artifact(folder, pipeline="constant"):
    from azuraforge.core import nn
    from azuraforge.learn.artifact import ModelArtifact

    return ModelArtifact(model=nn.Linear(1, 1), pipeline=pipeline).save(folder)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda a: (a / "artifact.json").write_text("{not json"), "is damaged"),
        (lambda a: (a / "model.npz").write_bytes(b"not a zip file"), "model.npz"),
        (lambda a: _artifact(a, pipeline="uninstalled"), "no pipeline named 'uninstalled'"),
    ],
)
def test_a_damaged_artifact_is_a_data_failure(installed, tmp_path, damage, message):
    artifact = _artifact(tmp_path / "artifact")
    damage(artifact)
    result = runner.invoke(app, ["predict", str(artifact), "--input", _rows(tmp_path)])
    assert result.exit_code == 1, result.output
    assert message in result.output and "internal error" not in result.output


def test_bad_output_paths_are_refused_before_any_work(installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("a file")
    result = runner.invoke(app, ["run", "constant", "--output-dir", "taken"])
    assert result.exit_code == 2 and "--output-dir taken is a file" in result.output
    assert not (tmp_path / "runs").exists()
    artifact = str(_artifact(tmp_path / "artifact"))
    for output, message in [("nowhere/p.csv", "does not exist"), (".", "is a folder")]:
        arguments = ["predict", artifact, "--input", _rows(tmp_path), "--output", output]
        result = runner.invoke(app, arguments)
        assert result.exit_code == 2 and message in result.output, result.output


def test_malformed_yaml_in_a_setting_is_one_line_and_exit_2(installed, tmp_path):
    result = runner.invoke(
        app, ["run", "constant", "--set", "value=[1,", "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "is not valid YAML" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_brackets_in_error_text_are_shown_as_typed(installed, tmp_path):
    missing = tmp_path / "data[old]" / "rows.csv"
    result = runner.invoke(app, ["predict", str(tmp_path), "--input", str(missing)])
    assert result.exit_code == 2 and "data[old]" in result.output


def test_predict_writes_named_columns(installed, tmp_path):
    artifact = _artifact(tmp_path / "artifact")
    result = runner.invoke(app, ["predict", str(artifact), "--input", _rows(tmp_path)])
    assert result.exit_code == 0
    assert result.output.splitlines()[:2] == ["row,prediction", "0,7.0"]


def test_first_interrupt_cancels_the_run_second_aborts(tmp_path):
    import os
    import signal

    from azuraforge.cli.main import _cancel_on_interrupt
    from azuraforge.learn import LocalContext

    ctx = LocalContext(output_dir=tmp_path)
    # The handler before is whatever the process had: an xdist worker may start ignoring SIGINT.
    before = signal.getsignal(signal.SIGINT)
    with _cancel_on_interrupt(ctx):
        os.kill(os.getpid(), signal.SIGINT)
        assert ctx.should_stop()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.slow
def test_ctrl_c_during_a_real_run_keeps_a_truthful_partial_result(real_data, tmp_path):
    """A person presses Ctrl-C once during `azuraforge run`: training stops after the batch,
    the run still scores, reports and saves, everything says it was cancelled, exit code 3."""
    import json
    import os
    import re
    import signal
    import subprocess
    import sys

    command = [
        sys.executable, "-c", "from azuraforge.cli.main import main; main()",
        "run", "weather-forecaster", "--output-dir", str(tmp_path),
        "--set", "max_rows=3000", "--set", "epochs=40", "--set", "patience=40",
        "--set", "hidden_size=8",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("epoch 1/40"):
            process.send_signal(signal.SIGINT)
            break
    output = "".join(lines) + process.communicate(timeout=120)[0]
    assert process.returncode == 3, output
    # The signal lands during epoch 2 unless the machine is slow to deliver it.
    stopped = re.search(r"Cancelled during epoch (\d+) of 40, after (\d+) complete", output)
    assert stopped, output
    during, completed = int(stopped[1]), int(stopped[2])
    assert during == completed + 1 and 1 <= completed < 40
    (run,) = tmp_path.iterdir()
    assert f"> **Cancelled during epoch {during} of 40" in (run / "report.md").read_text()
    training = json.loads((run / "artifact" / "artifact.json").read_text())["training"]
    assert training == {
        "status": "cancelled",
        "epochs_completed": completed,
        "epochs_planned": 40,
        "stop_reason": "cancelled",
    }


def _ranged_options() -> list[tuple[list[str], str, str]]:
    """Every option with a declared range (``min=``/``max=``), in every command: (command
    words, option, a value out of its range)."""
    found = []

    def walk(command: Any, words: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])
        for param in getattr(command, "params", []):
            low, high = getattr(param, "min", None), getattr(param, "max", None)
            if param.param_type_name == "option" and (low, high) != (None, None):
                beyond = low - 1 if low is not None else high + 1
                found.append((words, param.opts[0], str(beyond)))

    walk(typer.main.get_command(app), [])
    return found


RANGED = _ranged_options()


def test_the_options_with_a_range_are_found():
    assert (["stream", "replay"], "--horizon", "0") in RANGED
    assert len(RANGED) >= 10


@pytest.mark.parametrize(("words", "option", "value"), RANGED)
def test_an_option_out_of_its_range_exits_2_naming_it(words, option, value):
    """docs/pipelines.md: a value out of range is a usage error (2), whatever the command."""
    command: Any = typer.main.get_command(app)
    for word in words:
        command = command.commands[word]
    arguments = ["x" for p in command.params if p.param_type_name == "argument"]
    result = runner.invoke(app, [*words, *arguments, option, value])
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
