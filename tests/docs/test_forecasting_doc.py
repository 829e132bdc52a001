"""The Python examples in docs/forecasting.md run as written."""

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "forecasting.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def _run(block, capsys):
    exec(compile(block, str(DOC), "exec"), {})
    return capsys.readouterr().out.splitlines()


def test_the_pieces_example_beats_persistence(capsys):
    (block,) = [b for b in BLOCKS if "score_forecast" in b]
    printed = _run(block, capsys)
    assert printed[0] == "hourly ['persistence', 'same hour yesterday']"
    assert float(printed[1].split()[-1]) < 0.8


def test_the_pipeline_example_trains_and_scores(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (block,) = [b for b in BLOCKS if "SeriesForecaster" in b]
    printed = _run(block, capsys)
    assert printed[-1] == "['model', 'persistence', 'same hour yesterday']"
    assert (tmp_path / "runs" / "cycle" / "report.md").exists()
