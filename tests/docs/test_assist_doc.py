"""docs/assist.md: its Python examples run as written, and every ``azuraforge`` command it
shows exists with the options it uses."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app

DOC = Path(__file__).parents[2] / "docs" / "assist.md"
TEXT = DOC.read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)
COMMANDS = sorted(set(re.findall(r"^(azuraforge (?:assist|chat)[^\n#]*)", TEXT, flags=re.M)))


@pytest.mark.slow
def test_the_python_examples_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the memory example writes memory.db where it runs
    assert len(EXAMPLES) >= 4
    for example in EXAMPLES:
        exec(compile(example, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "memory_recall" in out  # the router example
    assert "def " in out  # SmolLM2 writing a function
    assert "Kız kardeşimin adı Elif." in out  # the memory example
    assert "[] []" in out  # the adapter pool example


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shown_exists_with_its_options(command):
    words = shlex.split(command)[1:]
    names = [w for w in words if not w.startswith("-")][:2]
    subcommand = names if names[0] == "assist" else names[:1]
    result = CliRunner().invoke(app, [*subcommand, "--help"])
    assert result.exit_code == 0, result.output
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert option in result.output, f"{command}: {option} is not an option"
