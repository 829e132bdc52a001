"""Shared fixtures: the real data of ../shared/data (never downloaded) and a throw-away
plugin distribution.

The real data is a required part of the test environment (CI points AZURAFORGE_DATA_MIRROR at
it): when the folder is missing the tests fail with a message saying so, they do not skip.
"""

import importlib
import textwrap
from pathlib import Path

import pytest

from azuraforge.learn.datasets.fetch import HOME_VARIABLE, MIRROR_VARIABLE

# The package re-exports the function fetch(), which hides the module of the same name.
fetch_module = importlib.import_module("azuraforge.learn.datasets.fetch")

# tests/conftest.py -> the repository -> its sibling shared/data
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _no_download(dataset, file, target, timeout, tried):
    raise AssertionError(
        f"a test tried to download {file.url} for {dataset!r}; {file.name} should be in "
        f"{SHARED_DATA} (tried: {'; '.join(tried)})"
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder ``../shared/data``; the test fails if it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"the real data folder {SHARED_DATA} is missing: the dataset tests read the files "
            "of ../shared/data beside the repository (the folder CI passes in "
            f"{MIRROR_VARIABLE}); put it there and run again",
            pytrace=False,
        )
    return SHARED_DATA


@pytest.fixture(scope="module")
def real_data(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The mirror is ../shared/data, the cache an empty folder, and downloads are refused."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MIRROR_VARIABLE, str(shared_data))
        patch.setenv(HOME_VARIABLE, str(tmp_path_factory.mktemp("azuraforge-home")))
        patch.setattr(fetch_module, "_download", _no_download)
        yield shared_data


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
        return {"row": np.arange(3), "prediction": np.full(3, 7.0)}


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
