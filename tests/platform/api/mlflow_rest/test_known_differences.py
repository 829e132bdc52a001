"""The list of MLflow's vendored tests that fail against ours kept true beside what it is
compared with: ``test_rest_tracking.KNOWN_DIFFERENCES`` names vendored tests only; a test it
calls MLflow's own drift fails against ``mlflow server`` too in the record
``benchmarks/mlflow_rest_conformance.py`` made (``make bench-mlflow-server``); and
docs/tracking.md's section "MLflow's own tests" gives the same tests with the same reasons
and the same counts. (That each listed test fails against ours, and each other passes, the
strict xfail marks of the vendored module check.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow

from tests.platform.api.mlflow_rest.test_rest_tracking import DRIFT, KNOWN_DIFFERENCES, VENDORED

ROOT = Path(__file__).resolve().parents[4]
RECORD = ROOT / "benchmarks" / "results" / "mlflow_rest_conformance.json"
DOCS = ROOT / "docs" / "tracking.md"
SECTION = "### MLflow's own tests"


def _record() -> dict[str, object]:
    return dict(json.loads(RECORD.read_text()))


def _section() -> str:
    text = DOCS.read_text()
    start = text.index(SECTION)
    end = text.find("\n#", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


def expected_rows() -> str:
    """The table of the docs section as the dict says it (printed when the docs differ)."""
    rows = [f"| `{name}` | {reason} |" for name, reason in KNOWN_DIFFERENCES.items()]
    return "\n".join(["| Test | Why it fails against ours |", "| --- | --- |", *rows])


def test_the_known_differences_are_vendored_tests() -> None:
    assert set(KNOWN_DIFFERENCES) <= set(VENDORED)
    assert list(KNOWN_DIFFERENCES) == [name for name in VENDORED if name in KNOWN_DIFFERENCES]
    assert all("|" not in reason and "\n" not in reason for reason in KNOWN_DIFFERENCES.values())


def test_mlflow_servers_record_is_of_these_tests_and_this_client() -> None:
    record = _record()
    assert list(record["outcomes"]) == list(VENDORED)  # type: ignore[call-overload]
    assert record["client"] == mlflow.__version__, "make bench-mlflow-server records it again"


def test_what_is_called_mlflows_drift_fails_against_mlflow_server() -> None:
    outcomes: dict[str, str] = _record()["outcomes"]  # type: ignore[assignment]
    drift = {name for name, reason in KNOWN_DIFFERENCES.items() if reason.startswith(DRIFT)}
    assert {name: outcomes[name] for name in drift if outcomes[name] == "passed"} == {}


def test_the_docs_list_the_same_failures_and_counts() -> None:
    section = _section()
    assert expected_rows() in section, f"docs/tracking.md's table should read:\n{expected_rows()}"
    ours = len(VENDORED) - len(KNOWN_DIFFERENCES)
    theirs = _record()["passed"]
    said = r"\*\*(\d+) of (\d+) pass against ours\*\*.*?(\d+) of (\d+) against `mlflow server`"
    counts = re.search(said, section, re.DOTALL)
    assert counts is not None, "the section says N of 48 pass against ours, M against mlflow's"
    total = len(VENDORED)
    assert [int(group) for group in counts.groups()] == [ours, total, theirs, total]
