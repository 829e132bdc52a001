"""One way in for jobs: no module of the package makes a job's row but
:func:`~azuraforge.platform.jobs.queueing.enqueue`, so every job carries its project, its
submitter and its context (that they reach the worker: ``test_transports``, on both
transports)."""

from __future__ import annotations

import ast
from pathlib import Path

import azuraforge

PACKAGE = Path(azuraforge.__file__).parent
QUEUEING = "azuraforge/platform/jobs/queueing.py"
SCOPED = "azuraforge/platform/store/scope/runs.py"
"""The project's view of the store: its ``create_experiment`` passes the call on, the project
forced; ``enqueue`` calls it through the view."""
INSERTS = {
    "azuraforge/platform/store/experiments.py": "Store.create_experiment itself",
    "azuraforge/testing/runs.py": "finished runs in bulk, for load tests; never queued",
    "azuraforge/testing/studies.py": "finished trials in bulk, for load tests; never queued",
}
"""Where a row of the experiments table may be inserted directly, and why."""


def jobs_made(path: Path) -> list[str]:
    """``line what`` of each place ``path`` makes a job's row: a call of a
    ``create_experiment`` method, or an INSERT into the experiments table
    (``insert(Experiment)``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "create_experiment":
            found.append(f"{node.lineno} create_experiment")
        elif _named(node.func) == "insert" and [_named(a) for a in node.args] == ["Experiment"]:
            found.append(f"{node.lineno} insert(Experiment)")
    return found


def _named(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def test_only_enqueue_makes_a_jobs_row() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent).as_posix()
        made = [hit for hit in jobs_made(path) if not _allowed(where, hit)]
        if made:
            found[where] = made
    assert found == {}, "jobs are queued by jobs.queueing.enqueue alone"


def _allowed(where: str, hit: str) -> bool:
    if hit.endswith("create_experiment"):
        return where in (QUEUEING, SCOPED)
    return where in INSERTS


def test_the_check_sees_a_job_made_elsewhere(tmp_path: Path) -> None:
    module = tmp_path / "maker.py"
    module.write_text(
        "store.create_experiment('p', {})\n"
        "connection.execute(sa.insert(Experiment).values(name='x'))\n"
        "store.get_experiment(1)\ninsert(Param)\n"
    )
    assert jobs_made(module) == ["1 create_experiment", "2 insert(Experiment)"]
    assert not _allowed("azuraforge/platform/services/studies.py", "1 create_experiment")
    assert _allowed(QUEUEING, "1 create_experiment")
