"""Browser tests of the dashboard: Playwright drives Debian's headless Chromium
(``/usr/bin/chromium-headless-shell``, ``apt-get install chromium-headless-shell``; ``.ci/run``
installs it when missing) against a real
``azuraforge serve`` on a temporary SQLite database with two local workers and the platform
tests' ``sleeper`` pipeline installed.

Each test's screenshots go to ``AZURAFORGE_SCREENSHOTS`` (default ``build/screenshots`` in
the repository, which ``.ci/run`` keeps). A page that throws an uncaught error fails its test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from azuraforge.learn.datasets.fetching import MIRROR_VARIABLE
from azuraforge.platform.settings import AssistBackend, Settings
from tests.platform.fixtures import short_settings
from tests.platform.servers import (
    LAST_SERVER,
    bearer,
    free_port,
    kill_group,
    login_url,
    start_serve,
)

REPOSITORY = Path(__file__).resolve().parents[2]
# The headless shell, not the full browser in its headless mode: the same Blink, drawing the
# same pages, at some 40 % less CPU (the browser tests of three modules: 60 s -> 35 s).
CHROMIUM = Path(os.environ.get("AZURAFORGE_CHROMIUM", "/usr/bin/chromium-headless-shell"))
SCREENSHOTS = Path(
    os.environ.get("AZURAFORGE_SCREENSHOTS") or REPOSITORY / "build" / "screenshots"
)
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--no-first-run",
    # The machine's network is closed: Chromium's own background connections only fail.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebGL (Plotly's parallel coordinates) on the CPU: there is no GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    # Pages composited by the renderer's software path, not through SwiftShader's GL in the
    # GPU process: the same pixels at about a third less of Chromium's CPU.
    "--disable-gpu-compositing",
]
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 800}
FINISHED = {"completed", "failed", "cancelled", "lost", "pruned"}


@pytest.fixture(scope="package", autouse=True)
def data_mirror(shared_data: list[Path]) -> Iterator[None]:
    """The served workers read the real data from the shared folders (never a download)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MIRROR_VARIABLE, os.pathsep.join(str(folder) for folder in shared_data))
        yield


@pytest.fixture(scope="session")
def full_scale(request: pytest.FixtureRequest) -> bool:
    """Whether ``--full-scale`` was given: crowded stores at the size of the benchmark."""
    return bool(request.config.getoption("--full-scale"))


def timings_file(name: str, timings: dict[str, float]) -> None:
    """Write ``timings`` (milliseconds by step) as ``name`` beside the screenshots, where
    ``benchmarks/dashboard_pages.py`` reads them."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / name).write_text(json.dumps(timings, indent=2))


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium, shared by the browser tests and stopped after the last of them:
    Playwright's event loop and Chromium's processes must not outlive this package (tests
    elsewhere call ``asyncio.run`` and count their own child processes)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install "
            "chromium-headless-shell (.ci/run does), or name another with AZURAFORGE_CHROMIUM",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Dashboard:
    """A running ``azuraforge serve``: its address, settings and an API client."""

    url: str
    home: Path
    api: httpx.Client

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def submit(self, pipeline: str, config: dict[str, Any] | None = None, **body: Any) -> int:
        """Queue one run through the API; its id."""
        answer = self.api.post(
            "/runs", json={"pipeline": pipeline, "config": config or {}, **body}
        )
        answer.raise_for_status()
        return int(answer.json()["data"][0]["id"])

    def run(self, experiment_id: int) -> dict[str, Any]:
        answer = self.api.get(f"/runs/{experiment_id}")
        answer.raise_for_status()
        return dict(answer.json())

    def wait_for(self, experiment_id: int, statuses: set[str], timeout: float = 60) -> dict:
        """The run once its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(experiment_id)
            if run["status"] in statuses:
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {experiment_id} is {run['status']}, not {statuses}")


ECHO = AssistBackend(name="echo", kind="echo")
"""The dashboards' assistant: answers "echo: <the message>" (tests/e2e/test_chat.py)."""


def dashboard_settings(home: Path, database: Path) -> Settings:
    """The settings of a dashboard's serve (and of any worker beside it) on ``database``: the
    short ones, but for workers that look for a queued run five times a second, not twenty
    (a person at a page does not see the difference; two idle workers took 6 % of a core),
    leases of the default's length (no test here waits for a reaping, and a 2 s lease lapsed
    between renewals on a loaded CI machine, losing a run a module needed), and an echo
    backend for the chat."""
    (home / "data").mkdir(parents=True, exist_ok=True)
    return short_settings(f"sqlite:///{database}", home, data_dir=home / "data",
                          poll_interval=0.2, heartbeat_interval=5.0, lease_ttl=25.0,
                          assist_backends=[ECHO])  # fmt: skip


def start_dashboard(
    home: Path, database: Path, sleeper_path: Path, *options: str, port: int | None = None,
    **fields: Any,
) -> tuple[Any, Dashboard]:  # fmt: skip
    """``azuraforge serve`` on ``database`` (an SQLite file at the head schema), on ``port``
    (a free one by default); ``fields`` replace settings of :func:`dashboard_settings`
    (``assist_backends=[]``: no backend declared, as ``make run``)."""
    settings = dashboard_settings(home, database).model_copy(update=fields)
    port = port or free_port()
    process = start_serve(settings, port, *options, pythonpath=sleeper_path)
    url = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=f"{url}/api/v1", timeout=30, headers=bearer())
    return process, Dashboard(url, home, api)


@pytest.fixture(scope="module")
def dashboard(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """A serve with two workers on a fresh database, shared by a test module."""
    home = tmp_path_factory.mktemp("dashboard")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    process, served = start_dashboard(home, home / "azuraforge.db", sleeper_path, "--workers", "2")
    try:
        yield served
    finally:
        served.api.close()
        kill_group(process)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test (``page`` looks at its call's)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page at 1280×800 signed in to the server started last by a one-time
    login link, as ``make run``'s (tests/e2e/test_access.py signs in by the form); the test
    fails if the page throws. A failed test leaves a screenshot of the page as it was,
    ``failed-<test>.png``, beside the others."""
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    if LAST_SERVER:
        signed_in(opened)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(20_000)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^\w.-]+", "-", request.node.name)
        print(f"the page at {opened.url}: {shoot(opened, f'failed-{name}')}")
    context.close()
    assert not errors, f"the page threw: {errors}"


def signed_in(page: Any) -> Any:
    """``page``, its browser signed in to the server started last (a one-time login link)."""
    page.goto(login_url(), wait_until="commit")
    return page


def shoot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot of ``page`` as ``name.png`` in the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def chart_points(page: Any, selector: str) -> int:
    """How many points the Plotly chart at ``selector`` draws, over all its traces."""
    return int(
        page.evaluate(
            "(selector) => (document.querySelector(selector)?.data || [])"
            ".reduce((sum, trace) => sum + (trace.x ? trace.x.length : 0), 0)",
            selector,
        )
    )


def mark_after(page: Any, name: str, start: float = 0.0, detail: str | None = None) -> float:
    """Milliseconds from ``start`` (page time, ``performance.now()``) until the page's first
    performance mark ``name`` made since then (with ``detail``, when given), once it is made."""
    found = page.wait_for_function(
        "([name, start, detail]) => performance.getEntriesByName(name)"
        ".filter(m => m.startTime >= start && (detail === null || m.detail === detail))"
        ".map(m => ({at: m.startTime}))[0]",
        arg=[name, start, detail],
        timeout=90_000,
    )
    return float(found.json_value()["at"]) - start


def timed_steps(
    page: Any, mark: str, steps: Sequence[tuple[str, str, Callable[[], object]]]
) -> dict[str, float]:
    """Each step ``(label, detail, act)`` in turn: ``act()`` (a click...), then the
    milliseconds until the page marks ``mark`` with ``detail`` (what it drew); by label."""
    timings = {}
    for label, detail, act in steps:
        start = float(page.evaluate("performance.now()"))
        act()
        timings[label] = mark_after(page, mark, start, detail)
    return timings
