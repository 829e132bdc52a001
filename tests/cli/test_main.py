"""The command line: listing, running with settings, predicting, and bad input."""

import pytest
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
    assert result.exit_code == 1 and "no pipeline named 'constnat'" in result.output


def test_predict_refuses_missing_input_and_missing_artifact(installed, tmp_path):
    result = runner.invoke(app, ["predict", str(tmp_path), "--input", str(tmp_path / "no.csv")])
    assert result.exit_code == 2 and "no input file" in result.output
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n")
    result = runner.invoke(app, ["predict", str(tmp_path / "none"), "--input", str(rows)])
    assert result.exit_code == 1 and "no model artifact" in result.output


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


def test_predict_writes_named_columns(installed, tmp_path, monkeypatch):
    from azuraforge.cli import main

    monkeypatch.setattr(
        main.ModelArtifact, "load", lambda path: type("A", (), {"pipeline": "constant"})
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n")
    result = runner.invoke(app, ["predict", str(tmp_path), "--input", str(rows)])
    assert result.exit_code == 0
    assert result.output.splitlines()[:2] == ["row,prediction", "0,7.0"]


def test_first_interrupt_cancels_the_run_second_aborts(tmp_path):
    import os
    import signal

    from azuraforge.cli.main import _cancel_on_interrupt
    from azuraforge.learn import LocalContext

    ctx = LocalContext(output_dir=tmp_path)
    with _cancel_on_interrupt(ctx):
        os.kill(os.getpid(), signal.SIGINT)
        assert ctx.should_stop()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
