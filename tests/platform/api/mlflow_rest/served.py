"""The servers MLflow's vendored tests (``test_rest_tracking.py``) run against.

Ours (the default): one uvicorn server of ours for the module, on a copy of the session's SQLite
template, and a fresh project per test with an admin's token of it. A project isolates as a
fresh database does for everything MLflow's client sees (its experiments, the ``Default`` one
``"0"`` included, its runs and their files, its registered models: a token sees its project
only), and it costs a row where a server costs seconds.

``mlflow server`` (when ``AZURAFORGE_CONFORMANCE_MLFLOW`` names an ``mlflow`` executable, as
``benchmarks/mlflow_rest_conformance.py`` sets it): a server per test on a fresh SQLite, its
artifacts in the test's ``tmp_path``, as MLflow's own fixture makes it, forked by that script's
factory (importing MLflow's server once).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import requests as requests_library

from tests.platform.servers import free_port, kill_group

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "benchmarks" / "mlflow_rest_conformance.py"
TARGET_VARIABLE = "AZURAFORGE_CONFORMANCE_MLFLOW"
STARTS_WITHIN = 60.0
"""Seconds a forked ``mlflow server`` has to answer (it makes its SQLite tables first)."""

requests = requests_library.Session()
"""What the vendored tests call ``requests`` (they call ``requests.get`` and ``requests.post``
of the module): a session carrying the test's project token when the server is ours, as MLflow's
client carries it from ``MLFLOW_TRACKING_TOKEN``; ``mlflow server`` asks for none."""


def mlflow_target() -> str | None:
    """The ``mlflow`` executable whose server the tests run against, or ``None``: ours."""
    return os.environ.get(TARGET_VARIABLE) or None


class MlflowServers:
    """``mlflow server``'s app forked per test from the benchmark script's factory process."""

    def __init__(self, mlflow: str) -> None:
        python = Path(mlflow).parent / "python"
        self._factory = subprocess.Popen(
            [str(python), str(SCRIPT), "--factory"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip

    def _ask(self, order: dict[str, object]) -> dict[str, int]:
        assert self._factory.stdin is not None and self._factory.stdout is not None
        self._factory.stdin.write(json.dumps(order) + "\n")
        self._factory.stdin.flush()
        answer = self._factory.stdout.readline()
        assert answer, "the mlflow server factory ended"
        return dict(json.loads(answer))

    def start(self, home: Path) -> tuple[str, int]:
        """A server on a fresh SQLite in ``home``, its artifacts in ``home/artifacts``: its
        URL and process id, once it answers."""
        port = free_port()
        artifacts = home / "artifacts"
        artifacts.mkdir()
        order = {"database": f"sqlite:///{home / 'mlflow.db'}", "artifacts": artifacts.as_uri(),
                 "port": port}  # fmt: skip
        pid = self._ask(order)["pid"]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTS_WITHIN
        while not _answers(url):
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.1)
        return url, pid

    def stop(self, pid: int) -> None:
        """Ends the server ``pid``."""
        self._ask({"stop": pid})

    def close(self) -> None:
        """Ends the factory (and any server left)."""
        kill_group(self._factory)  # type: ignore[arg-type]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
