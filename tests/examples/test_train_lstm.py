"""examples/train_lstm.py still runs and beats its persistence baseline."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "train_lstm.py"


def test_example_trains_and_prints_its_baseline(capsys):
    spec = importlib.util.spec_from_file_location("train_lstm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(epochs=3)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "vs persistence" in last
    ratio = float(last.split("(ratio ")[1].split(";")[0])
    assert ratio < 1.0
