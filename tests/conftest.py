"""A throw-away plugin distribution, installed on sys.path for one test."""

import textwrap

import pytest

PLUGIN = """
import numpy as np
from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult


class Constant(Pipeline):
    name = "constant"
    description = "Predicts a constant; a plugin from another distribution."

    class Config(PipelineConfig):
        value: float = 1.0
        epochs: int = 2

    def run(self, config, ctx):
        for epoch in range(1, config.epochs + 1):
            ctx.log_metrics({"loss": 1.0 / epoch}, step=epoch)
        return RunResult(metrics={"MAE": {"model": config.value, "persistence": 2.0}})

    def predict(self, artifact, inputs):
        return np.full(3, 7.0)


class NotAPipeline:
    pass
"""


@pytest.fixture
def plugin_distribution(tmp_path, monkeypatch):
    """Install package ``fakeplugin`` with entry points in group azuraforge.pipelines."""

    def install(entry_points: dict[str, str], source: str = PLUGIN):
        (tmp_path / "fakeplugin").mkdir(exist_ok=True)
        (tmp_path / "fakeplugin" / "__init__.py").write_text(textwrap.dedent(source))
        info = tmp_path / "fakeplugin-0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplugin\nVersion: 0.1\n")
        lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[azuraforge.pipelines]\n{lines}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        return tmp_path

    return install
