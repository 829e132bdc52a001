"""A real Prometheus (Debian's package) scraping, on loopback, a running ``azuraforge serve``
(two API processes, one worker) and an ``azuraforge worker`` pool with its metrics port, both
with the scrape token, under deploy/'s alert rules (their ``for:`` shortened to seconds: the
rules' own durations are promtool's unit tests'). A scrape passes ``promtool check metrics``,
the API processes' counts add up, a run's lease renewals are counted, the worker-lost alert
fires when the pool is killed and resolves once it is back, and every dashboard query runs.

With ``AZURAFORGE_SCREENSHOTS`` set (``.ci/run`` sets it), Prometheus's alert and graph pages
are saved there too, for docs/operations.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from azuraforge.platform.jobs.local import settings_environment
from tests.deploy.test_rules import DASHBOARD, RULES
from tests.platform.fixtures import settings_on_copy
from tests.platform.servers import (
    WORKER_STARTS_WITHIN,
    answers,
    bearer,
    free_port,
    kill_group,
    sample_sum,
    start_serve,
)

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

TOKEN = "prometheus-scrapes-" + "5" * 32
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
FIRES_WITHIN = 60.0
"""Seconds an alert has to fire (or resolve) once its condition holds (or ends): a scrape and
an evaluation a second, the rule's ``for:`` of 2 s, on a loaded machine."""


@dataclass
class Observed:
    """The servers Prometheus scrapes, and Prometheus."""

    env: dict[str, str]
    api: str
    worker_port: int
    worker: subprocess.Popen[bytes]
    prometheus: str

    def start_worker(self) -> None:
        """(Re)start the worker pool on its metrics port, once its metrics answer."""
        command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "worker",
                   "--concurrency", "2", "--metrics-port", str(self.worker_port)]  # fmt: skip
        self.worker = subprocess.Popen(command, env=self.env, start_new_session=True)
        _wait(lambda: answers(f"http://127.0.0.1:{self.worker_port}/metrics", SCRAPER),
              WORKER_STARTS_WITHIN, "the worker pool's metrics")  # fmt: skip

    def alert(self, name: str) -> str | None:
        """The state of alert ``name`` in Prometheus (None: inactive)."""
        alerts = httpx.get(f"{self.prometheus}/api/v1/alerts").json()["data"]["alerts"]
        return next((a["state"] for a in alerts if a["labels"]["alertname"] == name), None)

    def query(self, expression: str) -> dict[str, Any]:
        return httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expression}).json()


@pytest.fixture(scope="module")
def observed(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Observed]:
    home = tmp_path_factory.mktemp("observed")
    settings = settings_on_copy(sqlite_template, home, metrics_token=TOKEN)
    port, worker_port, prometheus_port = free_port(), free_port(), free_port()
    serve = start_serve(settings, port, "--workers", "1", "--api-workers", "2",
                        pythonpath=sleeper_path)  # fmt: skip
    env = settings_environment(settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sleeper_path), env.get("PYTHONPATH")]))
    api, prometheus_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prometheus_port}"
    none_yet = subprocess.Popen(["true"])  # the pool's process, once started
    cluster = Observed(env, api, worker_port, none_yet, prometheus_url)
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        cluster.start_worker()
        config = _prometheus_config(home, port, worker_port)
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={home / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(home / "prometheus.log").open("wb"),
        )  # fmt: skip
        _wait(lambda: answers(f"{cluster.prometheus}/-/ready"), 30, "Prometheus")
        _wait(lambda: _targets_up(cluster) == 2, 30, "both targets up")
        yield cluster
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(10)
        kill_group(cluster.worker)
        kill_group(serve)


def _prometheus_config(home: Path, port: int, worker_port: int) -> Path:
    """deploy/'s rules with their ``for:`` in seconds, scraped each second with the token."""
    (home / "alerts.yml").write_text(re.sub(r"for: \d+m", "for: 2s", RULES.read_text()))
    scrape = {"authorization": {"credentials": TOKEN}, "scrape_interval": "1s"}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(home / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "azuraforge", **scrape,
             "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            {"job_name": "azuraforge-workers", **scrape,
             "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]},
        ],
    }  # fmt: skip
    path = home / "prometheus.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def _targets_up(cluster: Observed) -> int:
    found = cluster.query("sum(up)")["data"]["result"]
    return int(float(found[0]["value"][1])) if found else 0


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Wait until ``condition`` holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.2)
    return time.monotonic() - started


def scrape(url: str) -> str:
    answer = httpx.get(f"{url}/metrics", headers=SCRAPER)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_real_scrape_passes_promtool(observed: Observed) -> None:
    for url in (observed.api, f"http://127.0.0.1:{observed.worker_port}"):
        checked = subprocess.run(["promtool", "check", "metrics"], input=scrape(url),
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout


def test_the_api_processes_counts_add_up(observed: Observed) -> None:
    """Each request on a new connection: the kernel spreads them over both API processes."""
    health = {"route": "/api/v1/health", "status": "200"}
    before = sample_sum(scrape(observed.api), "azuraforge_http_requests_total", **health)
    for _ in range(40):
        assert httpx.get(f"{observed.api}/api/v1/health").status_code == 200
    after = scrape(observed.api)
    assert sample_sum(after, "azuraforge_http_requests_total", **health) - before == 40
    assert sample_sum(after, "azuraforge_workers") == 1  # the serve's own pool


def test_a_run_counts_its_lease_renewals_and_its_end(observed: Observed) -> None:
    body = {"pipeline": "sleeper", "config": {"steps": 20, "sleep": 0.1}}
    made = httpx.post(f"{observed.api}/api/v1/runs", headers=bearer(), json=body)
    assert made.status_code == 201, made.text
    run = made.json()["data"][0]["id"]

    def ended() -> bool:
        found = httpx.get(f"{observed.api}/api/v1/runs/{run}", headers=bearer())
        return found.json()["status"] == "completed"

    _wait(ended, 60, f"run {run} completed")
    worker = scrape(f"http://127.0.0.1:{observed.worker_port}")
    server = scrape(observed.api)
    renewals = sum(
        sample_sum(text, "azuraforge_lease_renewals_total") for text in (worker, server)
    )
    assert renewals >= 1  # a 2 s run, a renewal each 0.5 s, by whichever worker took it
    assert sample_sum(server, "azuraforge_jobs", kind="run", status="completed") >= 1
    assert sample_sum(worker, "azuraforge_workers") == 2  # --concurrency 2


STREAM = {"source": "btc-hourly", "max_events": 400, "checkpoint_every": 100, "window": 100,
          "retrain_every": 100, "shadow_events": 50, "rollback_events": 50}  # fmt: skip
"""A short replayed stream whose loop opens candidates (a retrain each 100 events)."""


def test_a_streams_events_and_changes_are_counted_by_its_worker(observed: Observed) -> None:
    """The stream runs in a worker process of its own, started by the serve or by the pool
    (whichever saw it queued first): its counts reach that one's scrape."""
    made = httpx.post(f"{observed.api}/api/v1/streams", headers=bearer(), json={"config": STREAM})
    assert made.status_code == 201, made.text
    stream = made.json()["id"]

    def ended() -> bool:
        found = httpx.get(f"{observed.api}/api/v1/streams/{stream}", headers=bearer()).json()
        return found["status"] == "completed"

    _wait(ended, 120, f"stream {stream} completed")
    server, pool = scrape(observed.api), scrape(f"http://127.0.0.1:{observed.worker_port}")
    events = sum(sample_sum(text, "azuraforge_stream_events_total") for text in (server, pool))
    assert events == STREAM["max_events"]
    opened = [sample_sum(text, "azuraforge_stream_changes_total", change="candidate")
              for text in (server, pool)]  # fmt: skip
    assert sum(opened) >= 1
    assert sample_sum(server, "azuraforge_jobs", kind="stream", status="completed") == 1


def test_the_worker_lost_alert_fires_when_the_pool_is_killed_and_resolves_when_back(
    observed: Observed,
) -> None:
    assert observed.alert("AzuraForgeWorkerLost") is None
    kill_group(observed.worker)
    fired = _wait(lambda: observed.alert("AzuraForgeWorkerLost") == "firing", FIRES_WITHIN,
                  "AzuraForgeWorkerLost firing")  # fmt: skip
    _save_pages(observed, "alert-firing")
    observed.start_worker()
    resolved = _wait(lambda: observed.alert("AzuraForgeWorkerLost") is None, FIRES_WITHIN,
                     "AzuraForgeWorkerLost resolved")  # fmt: skip
    _save_pages(observed, "alert-resolved")
    print(f"fired {fired:.1f} s after the kill, resolved {resolved:.1f} s after the restart")
    assert observed.alert("AzuraForgeApiErrors") is None


def test_every_dashboard_query_runs_on_prometheus(observed: Observed) -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = [t["expr"] for panel in panels for t in panel.get("targets", [])]
    for query in queries:
        answer = observed.query(query.replace("$__rate_interval", "1m"))
        assert answer["status"] == "success", (query, answer)
    served = observed.query('sum(azuraforge_http_requests_total{route="/api/v1/health"})')
    assert served["data"]["result"], "the server's requests reached Prometheus"


def _save_pages(observed: Observed, name: str) -> None:
    """Prometheus's alerts page and a graph of the workers' targets, as screenshots, when
    ``AZURAFORGE_SCREENSHOTS`` names where."""
    folder = os.environ.get("AZURAFORGE_SCREENSHOTS")
    if not folder:
        return
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM

    requests = "sum by (route) (rate(azuraforge_http_requests_total[10s]))"
    graphs = {"up": 'up{job=~"azuraforge.*"}', "requests": requests}
    pages = {f"prometheus-{name}": "/classic/alerts"}  # Debian builds the classic pages
    for shot, query in graphs.items():
        pages[f"prometheus-{shot}"] = f"/graph?g0.expr={quote(query)}&g0.tab=0&g0.range_input=5m"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for shot, path in pages.items():
            page.goto(observed.prometheus + path)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(Path(folder) / f"{shot}.png"), full_page=True)
        browser.close()
