"""The worked plugin in docs/plugins.md keeps the contract, checked as the doc tells authors."""

import re
import sys
import types
from pathlib import Path

from azuraforge.learn import LocalContext

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_worked_example_passes_check_pipeline(tmp_path, monkeypatch):
    pipeline_code, test_code = BLOCKS
    package = types.ModuleType("my_package")
    module = types.ModuleType("my_package.pipeline")
    exec(compile(pipeline_code, str(DOC), "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "my_package", package)
    monkeypatch.setitem(sys.modules, "my_package.pipeline", module)
    namespace: dict = {}
    exec(compile(test_code, str(DOC), "exec"), namespace)
    namespace["test_line_fitter_keeps_the_contract"](tmp_path)
    pipeline = module.LineFitter
    result = pipeline().run(pipeline.make_config({}), LocalContext(output_dir=tmp_path / "run"))
    mae = result.metrics["MAE"]
    assert mae["model"] < mae["mean of training y"] / 5
