"""A run's printed output (stdout and stderr, C-level writes included) among its log lines:
run by a real worker process and read back through the logs API, bounded by output_limit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.jobs.output import LONGEST_LINE, _Lines
from azuraforge.platform.store import Store
from tests.helpers import write_pipeline_plugin
from tests.platform.fixtures import admin_headers, install_plugin, short_settings

API = "/api/v1"
PRINTER = """
import ctypes
import os
import sys

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.learn import TrainingSummary
from pydantic import Field


class PrinterConfig(PipelineConfig):
    lines: int = Field(0, ge=0, description="Numbered lines printed after the others.")


class Printer(Pipeline[PrinterConfig]):
    name = "printer"
    description = "Prints to stdout and stderr from Python and from C; a test pipeline."
    Config = PrinterConfig

    def run(self, config, ctx):
        print("hello from print")
        print("a warning on stderr", file=sys.stderr)
        os.write(1, b"written to descriptor 1\\n")
        ctypes.CDLL(None).puts(b"from C's stdio, buffered")
        sys.stdout.write("progress 10%\\rprogress 100%\\n")
        for number in range(config.lines):
            print(f"line {number:04d} " + "x" * 40)
        ctx.logger.info("logged by the run")
        sys.stderr.write("the last words, without a newline")
        return RunResult(metrics={}, training=TrainingSummary("completed", 1, 1))
"""


@pytest.fixture(scope="module")
def printer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("printer-dist")
    return write_pipeline_plugin(
        root, "printer_plugin", PRINTER, {"printer": "printer_plugin:Printer"}
    )


@pytest.fixture(scope="module")
def api(
    printer_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The API and a real worker process (as ``azuraforge worker`` runs) on a store of the
    module's, with a small ``output_limit``."""
    home = tmp_path_factory.mktemp("output-api")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = short_settings(f"sqlite:///{home / 'azuraforge.db'}", home, output_limit=2_000)
    with pytest.MonkeyPatch.context() as patch:
        install_plugin(patch, printer_path)
        worker = subprocess.Popen([sys.executable, "-m", WORKER_MODULE],
                                  env=settings_environment(settings))  # fmt: skip
        store = Store(settings.database_url)
        with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as client:
            yield client
        worker.terminate()
        worker.wait(30)
        store.close()


def finished_logs(client: TestClient, **config: Any) -> list[dict[str, Any]]:
    """Run the printer with ``config`` to its end; its log lines, through the API."""
    body = {"pipeline": "printer", "config": config}
    run = client.post(f"{API}/runs", json=body).json()["data"][0]["id"]
    deadline = time.monotonic() + 20
    while (status := client.get(f"{API}/runs/{run}").json()["status"]) != "completed":
        assert status in ("queued", "running") and time.monotonic() < deadline, status
        time.sleep(0.05)
    logs: list[dict[str, Any]] = client.get(
        f"{API}/runs/{run}/logs", params={"limit": 1000}
    ).json()["data"]
    return logs


def test_what_a_run_prints_is_among_its_log_lines(api: TestClient) -> None:
    lines = [(line["level"], line["message"]) for line in finished_logs(api)]
    # Each stream keeps its order (C's stdio buffer is written when it fills, or at the
    # end); the two streams are read apart.
    assert ("STDOUT", "from C's stdio, buffered") in lines
    assert [line for line in lines if line[0] == "STDOUT" and "C's" not in line[1]] == [
        ("STDOUT", "hello from print"),
        ("STDOUT", "written to descriptor 1"),
        ("STDOUT", "progress 100%"),
    ]
    assert sorted(line for line in lines if line[0] != "STDOUT") == [
        ("INFO", "logged by the run"),  # once: the worker's own log handler is not captured
        ("STDERR", "a warning on stderr"),
        ("STDERR", "the last words, without a newline"),
    ]


def test_a_run_keeps_its_newest_printed_lines_within_the_limit(api: TestClient) -> None:
    logs = finished_logs(api, lines=200)
    printed = [line for line in logs if line["level"] in ("STDOUT", "STDERR")]
    assert sum(len(line["message"]) for line in printed) <= 2_000
    messages = [line["message"] for line in printed]
    assert "line 0199 " + "x" * 40 in messages and "the last words, without a newline" in messages
    assert "hello from print" not in messages and "line 0000 " + "x" * 40 not in messages
    dropped = [line["message"] for line in logs if line["level"] == "WARNING"]
    assert dropped and all("oldest printed lines" in message for message in dropped), dropped
    assert [line for line in logs if line["level"] == "INFO"] != []


def test_printed_bytes_become_lines_as_a_terminal_shows_them() -> None:
    lines = _Lines()
    assert lines.feed(b"a\nb\r\nhalf") == ["a", "b"]
    assert lines.feed(b" a line\n10%\r20%\r") == ["half a line"]
    assert lines.feed(b"100%\n") == ["100%"]
    assert lines.feed("é".encode()[:1]) == []  # a character split between two reads
    assert lines.feed("é\n".encode()[1:]) == ["é"]
    assert lines.feed(b"\xff\n") == ["\ufffd"]
    assert lines.feed(b"y" * (LONGEST_LINE + 5)) == ["y" * LONGEST_LINE]
    assert lines.rest() == ["y" * 5] and lines.rest() == []
