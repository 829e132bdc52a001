"""The example in docs/stream.md runs as written and prints what the page shows."""

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "stream.md"
TEXT = DOC.read_text()
(EXAMPLE,) = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)
SHOWN = re.search(r"prints\n\n```\n(.*?)```", TEXT, flags=re.DOTALL)


def test_the_replay_example_prints_its_report(capsys, real_data):
    exec(compile(EXAMPLE, str(DOC), "exec"), {})
    assert SHOWN is not None
    assert capsys.readouterr().out == SHOWN.group(1)
