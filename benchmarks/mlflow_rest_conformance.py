"""MLflow's own REST tests (vendored in ``tests/platform/api/mlflow_rest/test_rest_tracking.py``)
run against ``mlflow server``: which pass there, recorded in
``benchmarks/results/mlflow_rest_conformance.json``, so that the CI test of the same module
against ours can tell MLflow's own drift (a test of the file that fails against MLflow's server
of this version too) from a difference of ours.

As MLflow's fixture does, every test gets its own server on a fresh SQLite file, its artifacts
in a folder of the test's ``tmp_path`` (``--default-artifact-root file://...``, not served).
Importing MLflow's server takes 20 s of CPU on a busy 2-core machine, so the servers are forked
from one process that imported it once (``--factory``, run by the full ``mlflow`` package's
venv): each child is ``mlflow server``'s own app (``mlflow.server.fastapi_app``) under uvicorn,
as ``mlflow server --workers 1`` runs it, on its own database and port.

Usage::

    .venv/bin/python benchmarks/mlflow_rest_conformance.py --mlflow build/mlflow-venv/bin/mlflow
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/platform/api/mlflow_rest/test_rest_tracking.py"
RESULT = ROOT / "benchmarks" / "results" / "mlflow_rest_conformance.json"
TARGET_VARIABLE = "AZURAFORGE_CONFORMANCE_MLFLOW"
"""Names the ``mlflow`` executable whose server the vendored tests run against (unset: ours)."""


def serve_forked() -> None:
    """The factory: imports MLflow's server once, then for each line of stdin, a JSON object
    ``{"database": URI, "artifacts": URI, "port": N}``, forks a child serving it and answers
    ``{"pid": PID}``; ``{"stop": PID}`` ends that child. Runs in the full ``mlflow`` venv."""
    import uvicorn  # first: MLflow's server turns its security middleware on when it is loaded
    from mlflow.server import ARTIFACT_ROOT_ENV_VAR, BACKEND_STORE_URI_ENV_VAR
    from mlflow.server.fastapi_app import app

    for line in sys.stdin:
        order = json.loads(line)
        if "stop" in order:
            os.kill(order["stop"], signal.SIGTERM)
            os.waitpid(order["stop"], 0)
            answer: dict[str, Any] = {"stopped": order["stop"]}
        else:
            pid = os.fork()
            if pid == 0:
                os.environ[BACKEND_STORE_URI_ENV_VAR] = order["database"]
                os.environ[ARTIFACT_ROOT_ENV_VAR] = order["artifacts"]
                uvicorn.run(app, host="127.0.0.1", port=order["port"], log_level="warning")
                os._exit(0)
            answer = {"pid": pid}
        print(json.dumps(answer), flush=True)


class Recorder:
    """A pytest plugin keeping each test's outcome and, for a failure, its error's last line."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        """Keeps the call's outcome (or the setup's, when the setup failed)."""
        name = report.nodeid.split("::", 1)[1]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.passed:
                self.outcomes[name] = "passed"
            else:
                crash = getattr(report.longrepr, "reprcrash", None)
                message = crash.message if crash is not None else str(report.longrepr)
                self.outcomes[name] = f"failed: {message.splitlines()[0][:300]}"


def record(mlflow: str) -> dict[str, Any]:
    """Runs the vendored module against ``mlflow``'s server and writes the record."""
    import pytest

    os.environ[TARGET_VARIABLE] = mlflow
    recorder = Recorder()
    pytest.main([str(ROOT / MODULE), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
                plugins=[recorder])  # fmt: skip
    from importlib.metadata import version as installed

    result = {
        "mlflow": _server_version(Path(mlflow).parent.parent),
        "client": installed("mlflow-skinny"),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f".venv/bin/python benchmarks/mlflow_rest_conformance.py --mlflow {mlflow}",
        "passed": sum(outcome == "passed" for outcome in recorder.outcomes.values()),
        "tests": len(recorder.outcomes),
        "outcomes": recorder.outcomes,
    }
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _server_version(venv: Path) -> str:
    found = sorted(venv.glob("lib/python*/site-packages/mlflow-*.dist-info"))
    return found[0].name.removeprefix("mlflow-").removesuffix(".dist-info") if found else "?"


def main() -> None:
    """Either the factory (``--factory``) or the run that records ``mlflow server``'s outcomes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow", default=str(ROOT / "build" / "mlflow-venv" / "bin" / "mlflow"))
    parser.add_argument("--factory", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.factory:
        serve_forked()
        return
    result = record(arguments.mlflow)
    print(f"mlflow server {result['mlflow']}: {result['passed']} of {result['tests']} pass")
    for name, outcome in result["outcomes"].items():
        if outcome != "passed":
            print(f"  {name}: {outcome}")


if __name__ == "__main__":
    main()
