"""Shared fixtures: the real data (never downloaded) and a throw-away plugin distribution.

The real data comes from the folders of ``AZURAFORGE_DATA_MIRROR`` (CI points it at
``../shared/data``); when the variable is unset, ``../shared/data`` beside the repository is
used. It is a required part of the test environment: when no mirror folder exists the tests
fail with a message saying so, they do not skip.

Reference engines (PyTorch, scikit-learn) come with the ``test`` extra that ``make test``
installs. Their tests use ``pytest.importorskip`` so a developer without them can still run
the rest, but under CI (``CI`` set, as ``.ci/run`` does) a skipped test fails the run.
"""

import os
from collections import Counter
from pathlib import Path

import pytest

from azuraforge.learn.datasets import fetching
from azuraforge.learn.datasets.fetching import MIRROR_VARIABLE
from azuraforge.learn.home import HOME_VARIABLE
from tests.helpers import write_pipeline_plugin

# The platform's fixtures (real SQLite and PostgreSQL stores, the sleeper plugin) serve the
# platform's tests and the CLI's.
pytest_plugins = ["tests.platform.fixtures", "tests.pgvector"]
# A contract's failed assert shows its values, as a test module's does.
pytest.register_assert_rewrite("azuraforge.testing.blobs")

# tests/conftest.py -> the repository -> its sibling shared/data
DEFAULT_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_mirrors() -> list[Path]:
    """The mirror folders the tests read: ``AZURAFORGE_DATA_MIRROR``, else ../shared/data."""
    if os.environ.get(MIRROR_VARIABLE, "").strip():
        return fetching.mirror_folders()
    return [DEFAULT_MIRROR]


@pytest.fixture(autouse=True, scope="session")
def _own_store(tmp_path_factory: pytest.TempPathFactory):
    """`azuraforge run` records into the platform's store: tests record into a store and a
    home folder of their own (one per pytest-xdist worker), never the user's ~/.azuraforge.
    The nightly pass is off (a test turns it on): after its hour every test server's reaper
    would queue a pass over its turns, and its workers run them beside the test's own jobs."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'azuraforge.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZURAFORGE_DATABASE_URL", url)
        patch.setenv("AZURAFORGE_ASSIST_NIGHTLY", "false")
        patch.setenv(HOME_VARIABLE, str(tmp_path_factory.mktemp("home")))
        yield url


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full-scale",
        action="store_true",
        help="the browser tests' crowded stores at the size docs/benchmarks.md quotes (100,000 "
        "runs, a study of 10,000 trials) and their timings held to a bound; "
        "benchmarks/dashboard_pages.py (make bench) passes it. Without it they check the same "
        "pages at a small size and time nothing.",
    )


_SKIPPED: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped whole (``torch = pytest.importorskip("torch")`` at its top) is a
    collection report, which the test reports above never see."""
    _record_skip(report)


def _record_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """A skip, not an expected failure (reported as skipped too: a strict xfail says why it
    fails, and fails the run once it passes)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        _SKIPPED[report.nodeid] = str(reason)


LONGEST = ("tests/platform/api/test_schemathesis.py", "tests/platform/test_learning_loop.py")
"""The modules that took longest, started before all others (`--durations` in CI run 97,
2026-11-28: schemathesis 118 s on SQLite and 64 s on PostgreSQL, the learning loop 69 s)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules with a ``slow`` test, and the browser tests, run first (each module in its
    own order): under ``--dist loadscope --no-loadscope-reorder`` (xdist's reorder sends the
    modules with most tests first) a pytest-xdist worker takes the next module in this order as
    it finishes one, so the longest start early and none of them is left to run alone
    at the end while the other workers idle (the longest-first schedule for the makespan).
    The other modules follow, those with most tests first (the 143 of
    ``tests/platform/api/routes/test_runs.py`` took 130 s in one run)."""
    heavy = {_module(item) for item in items if item.get_closest_marker("slow")}
    sizes = Counter(_module(item) for item in items)

    def rank(item: pytest.Item) -> tuple[int, int]:
        module = _module(item)
        if module in LONGEST:
            return LONGEST.index(module), 0
        if module in heavy or "tests/e2e/" in module:
            return len(LONGEST), 0
        return len(LONGEST) + 1, -sizes[module]

    items.sort(key=rank)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI nothing may skip: a missing reference engine is a broken environment."""
    if not (os.environ.get("CI") and _SKIPPED):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"{len(_SKIPPED)} tests skipped under CI: a failure", red=True)
        for nodeid, reason in _SKIPPED.items():
            reporter.write_line(f"  {nodeid}: {reason}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _no_download(dataset, file, target, timeout, tried):
    raise AssertionError(
        f"a test tried to download {file.url} for {dataset!r}; {file.name} should be in a "
        f"folder of {MIRROR_VARIABLE} (tried: {'; '.join(tried)})"
    )


@pytest.fixture(scope="session")
def shared_data() -> list[Path]:
    """The existing mirror folders; the test fails if there is none."""
    folders = [folder for folder in data_mirrors() if folder.is_dir()]
    if not folders:
        pytest.fail(
            f"no real data folder: {MIRROR_VARIABLE} names {data_mirrors()}, none of which "
            "exists. The dataset tests read the files of ../shared/data (the folder CI passes "
            f"in {MIRROR_VARIABLE}); point the variable at it and run again",
            pytrace=False,
        )
    return folders


@pytest.fixture(scope="module")
def real_data(shared_data: list[Path], tmp_path_factory: pytest.TempPathFactory):
    """Fetching reads the mirrors, the cache is an empty folder, and downloads are refused."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MIRROR_VARIABLE, os.pathsep.join(str(folder) for folder in shared_data))
        patch.setenv(HOME_VARIABLE, str(tmp_path_factory.mktemp("azuraforge-home")))
        patch.setattr(fetching, "_download", _no_download)
        yield shared_data


PLUGIN = """
import os
import signal

import numpy as np
from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.errors import DataFormatError
from azuraforge.learn import TrainingSummary


class ConstantConfig(PipelineConfig):
    value: float = 1.0
    epochs: int = 2
    interrupt_at_epoch: int | None = None  # press Ctrl-C (a real SIGINT) at this epoch
    data_error: str = ""  # fail as a run whose data cannot be read


class Constant(Pipeline[ConstantConfig]):
    name = "constant"
    description = "Predicts a constant; a plugin from another distribution."
    Config = ConstantConfig

    def run(self, config, ctx):
        if config.data_error:
            raise DataFormatError(config.data_error)
        done = 0
        for epoch in range(1, config.epochs + 1):
            if epoch == config.interrupt_at_epoch:
                os.kill(os.getpid(), signal.SIGINT)
            if ctx.should_stop():
                break
            ctx.log_metrics({"loss": 1.0 / epoch}, step=epoch)
            done = epoch
        status = "cancelled" if ctx.should_stop() else "completed"
        return RunResult(
            metrics={"MAE": {"model": config.value, "persistence": 2.0}},
            training=TrainingSummary(status, done, config.epochs),
        )

    def predict(self, artifact, inputs):
        return {"row": np.arange(3), "prediction": np.full(3, 7.0)}


class NotAPipeline:
    pass
"""


@pytest.fixture
def plugin_distribution(tmp_path, monkeypatch):
    """Install package ``fakeplugin`` with entry points in group azuraforge.pipelines."""

    def install(entry_points: dict[str, str], source: str = PLUGIN):
        write_pipeline_plugin(tmp_path, "fakeplugin", source, entry_points)
        monkeypatch.syspath_prepend(str(tmp_path))
        return tmp_path

    return install
