"""The example in docs/hub.md runs as written and prints what the page says it prints."""

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "hub.md"
TEXT = DOC.read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)
SHOWN = re.findall(r"```\n\nprints `([^`]*)`", TEXT)


def test_the_promotion_example_prints_what_the_page_shows(capsys):
    assert len(EXAMPLES) == len(SHOWN) == 1
    exec(compile(EXAMPLES[0], str(DOC), "exec"), {})
    assert capsys.readouterr().out.strip() == SHOWN[0]
