"""The examples in docs/stream.md run as written and print what the page shows."""

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "stream.md"
TEXT = DOC.read_text()
REPLAY, FEATURES, *LATER = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)
SHOWN = re.search(r"prints\n\n```\n(.*?)```", TEXT, flags=re.DOTALL)


def test_the_replay_example_prints_its_report_and_the_features_follow_it(capsys, real_data):
    namespace: dict = {}
    exec(compile(REPLAY, str(DOC), "exec"), namespace)
    assert SHOWN is not None
    assert capsys.readouterr().out == SHOWN.group(1)
    exec(compile(FEATURES, str(DOC), "exec"), namespace)
    assert set(namespace["x"]) == set(namespace["features"].names)  # all warm by the end


def test_the_later_examples_run_in_order_on_the_replay(real_data, capsys):
    namespace: dict = {}
    exec(compile(REPLAY, str(DOC), "exec"), namespace)
    for block in LATER:
        exec(compile(block, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "opposite of last {'accuracy'" in out
    for shown in ("ADWIN: drift at 2047", "PageHinkley: drift at 2048", "DDM: drift at 2149"):
        assert shown in out  # as docs/stream.md says
    assert "4 4000 [2, 3, 4] True" in out
