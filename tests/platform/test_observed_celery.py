"""The cluster path observed: a serve on the Celery transport and an ``azuraforge worker
--transport celery --metrics-port`` pool, both tracing to an OTLP/HTTP receiver. The pool's
scrape adds up what its prefork children counted (lease renewals), and a run's trace goes
from the request through Celery's own spans (its task sent, its task run) to the worker's and
the job process's."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from azuraforge.platform.jobs.local import settings_environment
from tests.platform.fixtures import settings_on_copy
from tests.platform.jobs.conftest import wait_for
from tests.platform.jobs.test_transports import (  # noqa: F401 (redis_url is a fixture)
    empty_redis,
    redis_url,
)
from tests.platform.otlp import Receiver, new_trace
from tests.platform.servers import (
    WORKER_STARTS_WITHIN,
    answers,
    bearer,
    free_port,
    kill_group,
    serving,
    start_serve,
)

pytestmark = pytest.mark.slow
SPANS = {"POST /api/v1/runs", "apply_async/azuraforge.run_experiment",
         "run/azuraforge.run_experiment", "job run", "run run"}  # fmt: skip
"""A run's spans through Celery: the request's, Celery's (sent, run), the worker's, the job's."""


def test_a_celery_pool_counts_its_children_and_a_run_is_one_trace_through_celery(
    sleeper_path: Path,
    sqlite_template: Path,
    tmp_path: Path,
    redis_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty_redis(redis_url)
    trace_id, parent = new_trace()
    with contextlib.ExitStack() as stack:
        stack.callback(empty_redis, redis_url)
        receiver = stack.enter_context(serving(Receiver()))
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
        monkeypatch.setenv(
            "OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_address[1]}"
        )
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
        settings = settings_on_copy(sqlite_template, tmp_path, transport="celery",
                                    broker_url=redis_url)  # fmt: skip
        port, metrics = free_port(), free_port()
        serve = start_serve(settings, port, "--workers", "0", pythonpath=sleeper_path)
        stack.callback(kill_group, serve)
        env = {**settings_environment(settings), "PYTHONPATH": str(sleeper_path)}
        cli = [sys.executable, "-c", "from azuraforge.cli.main import main; main()"]
        command = [*cli, "worker", "--transport", "celery", "--concurrency", "1",
                   "--metrics-port", str(metrics)]  # fmt: skip
        pool = subprocess.Popen(command, env=env, start_new_session=True)
        stack.callback(kill_group, pool)
        wait_for(lambda: answers(f"http://127.0.0.1:{metrics}/metrics"), WORKER_STARTS_WITHIN, 0.2)
        body = {"pipeline": "sleeper", "config": {"steps": 10, "sleep": 0.2}}
        made = httpx.post(f"http://127.0.0.1:{port}/api/v1/runs", json=body,
                          headers={**bearer(), **parent})  # fmt: skip
        run = made.json()["data"][0]["id"]
        url = f"http://127.0.0.1:{port}/api/v1/runs/{run}"
        wait_for(lambda: httpx.get(url, headers=bearer()).json()["status"] == "completed", 60, 0.2)
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
        names = lambda: {span["name"] for span in receiver.of_trace(trace_id)}  # noqa: E731
        wait_for(lambda: names() >= SPANS, 30, 0.2)
    renewals = next(line for line in scraped.splitlines()
                    if line.startswith("azuraforge_lease_renewals_total"))  # fmt: skip
    assert float(renewals.split()[1]) >= 1  # counted in the pool's forked child
    assert "azuraforge_workers 1.0" in scraped
