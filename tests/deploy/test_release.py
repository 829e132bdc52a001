"""The release workflow (.github/workflows/release.yml) against GitHub's workflow schema
(check-jsonschema's vendored copy), and its order: tests and the checked build before anything
is published, and publishing on a version tag alone. GitHub runs it; this machine does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_compose import check_jsonschema

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "release.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def test_the_workflow_holds_to_githubs_schema(tmp_path: Path) -> None:
    checked = check_jsonschema("vendor.github-workflows", WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "release.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:", 1))
    refused = check_jsonschema("vendor.github-workflows", broken)
    assert refused.returncode == 1


def test_publishing_waits_for_the_tests_and_the_checked_build(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    # PyYAML reads the key `on` as True (YAML 1.1)
    assert workflow[True]["push"]["tags"] == ["v*"]
    assert "bash main/.ci/run" in [step.get("run") for step in jobs["test"]["steps"]]
    build = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build and "twine check --strict dist/*" in build
    publish = jobs["publish"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["needs"] == ["test", "build"]
    assert publish["permissions"] == {"id-token": "write"}
    uses = [step.get("uses", "") for step in publish["steps"]]
    assert uses[-1].startswith("pypa/gh-action-pypi-publish@")
