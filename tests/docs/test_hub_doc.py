"""docs/hub.md: its example runs as written and prints what the page says; every
``azuraforge stream`` command it shows exists with the options it uses."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from azuraforge.cli.main import app

DOC = Path(__file__).parents[2] / "docs" / "hub.md"
TEXT = DOC.read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)
SHOWN = re.findall(r"```\n\nprints `([^`]*)`", TEXT)


def test_the_promotion_example_prints_what_the_page_shows(capsys):
    assert len(EXAMPLES) == len(SHOWN) == 1
    exec(compile(EXAMPLES[0], str(DOC), "exec"), {})
    assert capsys.readouterr().out.strip() == SHOWN[0]


JOINED = re.sub(r"\\\n\s*", " ", TEXT)  # a command continued on the next line, as a shell reads it
COMMANDS = sorted(set(re.findall(r"^\$ (azuraforge stream [^\n#&]*)", JOINED, flags=re.M)))


def test_every_stream_command_shown_exists_with_its_options():
    assert len(COMMANDS) >= 5
    for command in COMMANDS:
        words = shlex.split(command)[1:]
        result = CliRunner().invoke(app, [*words[:2], "--help"])
        assert result.exit_code == 0, (command, result.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in result.output, f"{command}: {option} is not an option"
