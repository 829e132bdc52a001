"""``azuraforge blobs copy``: a home's files into another store, again without copying twice,
and one line when the target cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.blobs import LocalBlobs
from tests.platform.servers import free_port

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose blob store (home/blobs, the default) holds a run's two files."""
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AZURAFORGE_BLOB_STORE", raising=False)
    blobs = LocalBlobs(tmp_path / "home" / "blobs")
    blobs.put_bytes("runs/1/report.md", b"# report")
    blobs.put_bytes("runs/1/artifact/model.npz", b"weights")
    return tmp_path / "home"


def said(output: str) -> str:
    return " ".join(output.split())


def test_a_homes_files_are_copied_once(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "bucket"
    first = runner.invoke(app, ["blobs", "copy", "--to", str(target)])
    assert first.exit_code == 0, first.output
    assert f"copied into {target.as_uri()}: 2 files copied, 0 already there" in said(first.output)
    assert LocalBlobs(target).get_bytes("runs/1/artifact/model.npz") == b"weights"
    again = runner.invoke(app, ["blobs", "copy", "--to", target.as_uri()])
    assert "0 files copied, 2 already there" in said(again.output), again.output
    back = runner.invoke(app, ["blobs", "copy", "--from", str(target), "--to", str(home)])
    assert back.exit_code == 0 and (home / "runs" / "1" / "report.md").read_bytes() == b"# report"


def test_a_target_that_cannot_be_reached_is_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tests")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tests-secret")
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens
    result = runner.invoke(
        app, ["blobs", "copy", "--to", "s3://bucket/af", "--s3-endpoint", endpoint]
    )
    assert result.exit_code == 1
    assert said(result.output).startswith(f"error: cannot use s3://bucket/af at {endpoint}")
    assert "Traceback" not in result.output and "tests-secret" not in result.output


@pytest.mark.parametrize("target", ["file:///proc/nope", "/proc/nope/deeper"])
def test_a_target_that_cannot_be_written_is_one_line(home: Path, target: str) -> None:
    """A folder that cannot be made (under /proc, which holds no folders of ours): one line
    naming the store and why, never an internal error."""
    result = runner.invoke(app, ["blobs", "copy", "--to", target])
    assert result.exit_code == 1, result.output
    shown = said(result.output)
    assert shown.startswith(
        f"error: cannot write into {LocalBlobs(target.removeprefix('file://')).url}: "
    ), shown
    assert "internal error" not in shown and "please report" not in shown
    assert result.output.count("\n") == 1, result.output


@pytest.mark.parametrize("origin", ["missing", "a-file"])
def test_an_origin_that_is_no_folder_is_one_line_not_nothing_copied(
    home: Path, tmp_path: Path, origin: str
) -> None:
    (tmp_path / "a-file").write_text("not a store")
    result = runner.invoke(
        app, ["blobs", "copy", "--from", str(tmp_path / origin), "--to", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    assert said(result.output).startswith(
        f"error: nothing to copy from {(tmp_path / origin).as_uri()}: no folder there"
    ), result.output
    assert "files copied" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
