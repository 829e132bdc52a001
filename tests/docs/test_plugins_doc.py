"""The worked plugin in docs/plugins.md keeps the contract, checked as the doc tells authors."""

import re
import sys
import types
from pathlib import Path

from azuraforge.learn import LocalContext

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_worked_example_passes_check_pipeline(tmp_path, monkeypatch):
    pipeline_code, test_code, _ = BLOCKS
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


def test_the_plugin_folders_file_adds_its_pipeline(tmp_path):
    from azuraforge.apps import discover, get_pipeline
    from azuraforge.learn.plugin_folder import load_folder

    *_, folder_code = BLOCKS
    (tmp_path / "weather.py").write_text(folder_code)
    try:
        loaded = load_folder(tmp_path)
        assert loaded.files[0].declares == ("azuraforge.pipelines:tiny-weather",)
        assert discover()["tiny-weather"].distribution == "plugin folder: weather.py"
        pipeline = get_pipeline("tiny-weather")
        result = pipeline().run(pipeline.make_config({}), LocalContext(output_dir=tmp_path / "r"))
    finally:
        load_folder(None)
    mae = result.metrics["MAE"]
    assert mae["model"] > mae["persistence"] > 0  # a three-day mean lags a rising series
