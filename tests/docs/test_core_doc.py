"""The Python examples in docs/core.md run as written."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "core.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_doc_has_the_lstm_example():
    assert any("nn.LSTM" in block and "loss.backward()" in block for block in BLOCKS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if "nn.LSTM" in b])
def test_lstm_example_trains(block, capsys):
    exec(compile(block, str(DOC), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    losses = [float(line.split()[-1]) for line in printed if line.startswith("epoch")]
    assert len(losses) >= 3 and losses[-1] < losses[0] / 5
