"""The worked plugins in docs/plugins.md keep their contracts, checked as the doc tells
authors; the plugin folder's pipeline and backend files add what the doc says."""

import hashlib
import re
import sys
import types
from pathlib import Path

from azuraforge.learn import LocalContext

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)


def test_the_worked_example_passes_check_pipeline(tmp_path, monkeypatch):
    pipeline_code, test_code, _, _ = BLOCKS
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

    *_, folder_code, _ = BLOCKS
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


def test_the_plugin_folders_backend_answers_and_is_listed_as_the_doc_shows(tmp_path):
    from azuraforge.assist.backends import BackendSpec, Message
    from azuraforge.assist.backends.registry import build
    from azuraforge.learn.plugin_folder import load_folder

    *_, backend_code = BLOCKS
    (tmp_path / "shout.py").write_text(backend_code)
    try:
        loaded = load_folder(tmp_path)
        loud = build(BackendSpec("shout", "loud"))
    finally:
        load_folder(None)
    assert loaded.files[0].declares == ("azuraforge.backends:shout",)
    assert f"shout.py  {hashlib.sha256(backend_code.encode()).hexdigest()}  ok" in TEXT
    assert f"digest {loaded.digest}" in TEXT
    assert loud.generate([Message("user", "merhaba dünya, nasılsın?")]) == (
        "MERHABA DÜNYA, NASILSIN?!"
    )
    assert "ai> MERHABA DÜNYA, NASILSIN?!" in TEXT
