"""MLflow conformance: the script ``benchmarks/mlflow_conformance.py`` (MLflow's own client,
unchanged) against this server gives the answers ``mlflow server`` gave it, as ``make bench``
recorded them in ``benchmarks/results/mlflow_conformance.json`` (``mlflow server`` is not
installed here: the full ``mlflow`` package is ``make bench``'s alone). Where we differ on
purpose, :data:`DIFFERENCES` says what we answer and why; any other difference fails, and so
does a listed one that is gone."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from azuraforge.platform.store import Store
from tests.platform.api.test_mlflow import (  # noqa: F401 (fixtures)
    mlflow_settings,
    server,
    tracking,
)

ROOT = Path(__file__).resolve().parents[3]
KEPT = ROOT / "benchmarks" / "results" / "mlflow_conformance.json"
SCRIPT = ROOT / "benchmarks" / "mlflow_conformance.py"

DIFFERENCES: dict[str, tuple[Any, str]] = {
    "log_metric ended run": (
        {"error": "RESOURCE_CONFLICT"},
        "an ended run takes no more metrics; mlflow server keeps writing to a finished run "
        "(docs/tracking.md, Where it differs from mlflow server)",
    ),
    "silent run": (
        "FAILED",
        "a run silent past its idle limit (a killed script's) ends lost, FAILED to MLflow's "
        "client; mlflow server leaves it RUNNING forever (docs/tracking.md)",
    ),
}
"""Each step where we answer otherwise than ``mlflow server``: our answer, and why."""


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("mlflow_conformance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflows_client_gets_the_answers_mlflow_server_gave(
    tracking: MlflowClient,  # noqa: F811
    server: tuple[str, Store],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, store = server

    def killed(run_id: str) -> None:
        """The run's idle limit passing (600 s here) stood for: the reaper's pass as it runs
        an hour later ends the silent run, and only it, ``lost``."""
        assert store.reap_expired(now=time.time() + 3600) == [(int(run_id), "lost")]

    ours = json.loads(json.dumps(_script().run_conformance(url, tmp_path, silence=killed)))
    kept = json.loads(KEPT.read_text())
    mlflow_answers = kept["record"]
    assert list(ours) == list(mlflow_answers)
    unexpected = {
        step: {"mlflow server": mlflow_answers[step], "ours": answer}
        for step, answer in ours.items()
        if answer != mlflow_answers[step] and step not in DIFFERENCES
    }
    moved = (
        f"; the record was made with mlflow-skinny {kept['client']}, this is "
        f"{mlflow.__version__}: make bench-mlflow-server records it again"
        if kept["client"] != mlflow.__version__
        else ""
    )
    assert unexpected == {}, f"answers other than mlflow server's{moved}"
    for step, (answer, reason) in DIFFERENCES.items():
        assert (ours[step], mlflow_answers[step] != answer) == (answer, True), (step, reason)
