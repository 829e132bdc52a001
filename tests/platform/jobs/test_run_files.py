"""A job's files: kept from its folder under runs/<id>, never a file a link names; the paths a
request names checked as names inside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import LocalBlobs
from azuraforge.platform.jobs.run_files import (
    FILES_LEFT_ON,
    drop_ended_folders,
    keep_folder,
    leave_folder,
    run_key,
    stored_artifacts,
)
from azuraforge.platform.store import ArtifactRecord
from tests.platform.servers import free_port


def test_a_folder_is_kept_under_the_jobs_prefix_but_its_links_and_what_it_leaves(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    (outside / "secrets").mkdir(parents=True)
    (outside / "secrets" / "key").write_text("do not copy")
    folder = tmp_path / "run"
    (folder / "artifact").mkdir(parents=True)
    (folder / "report.md").write_text("# report")
    (folder / "artifact" / "model.npz").write_bytes(b"weights")
    (folder / "spool.jsonl").write_text("[]\n")
    (folder / "passwd").symlink_to(outside / "secrets" / "key")
    (folder / "linked").symlink_to(outside / "secrets")
    blobs = LocalBlobs(tmp_path / "blobs")

    assert keep_folder(blobs, folder, 7, leave=["spool.jsonl"]) == 2
    assert list(blobs.list_keys()) == ["runs/7/artifact/model.npz", "runs/7/report.md"]
    assert blobs.get_bytes("runs/7/report.md") == b"# report"
    assert keep_folder(blobs, tmp_path / "never-made", 8) == 0


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../8/report.md", "leaves the run's files"),
        ("/etc/passwd", "leaves the run's files"),
        ("", "leaves the run's files"),
        ("a\x00b", "leaves the run's files"),
        ("a" * 256, "names of at most 255 bytes"),
        ("d/" * 600 + "x", "paths of at most 1,024 characters"),
    ],
)
def test_a_named_path_outside_the_jobs_files_is_refused(path: str, problem: str) -> None:
    with pytest.raises(InvalidParameterError, match=problem):
        run_key(7, path)


@pytest.mark.parametrize("path", ["a\\..\\..\\b", "plots//loss.png", "line\nbreak", "\x05c"])
def test_a_path_no_kept_file_can_have_names_no_file(path: str) -> None:
    with pytest.raises(NotFoundError, match="among the run's files"):
        run_key(7, path)


def test_a_job_whose_files_were_left_lists_only_those_the_store_holds(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("runs/7/report.md", b"# report")
    blobs.put_bytes("runs/7/plots/loss.png", b"png")
    listed = [("report.md", False), ("plots", True), ("artifact", True), ("preds.csv", False)]
    found = [ArtifactRecord(path, 1, is_dir, 0.0) for path, is_dir in listed]
    assert stored_artifacts(blobs, 7, {"metrics": {}}, found) == found  # kept at its end
    left = {FILES_LEFT_ON: "worker-1"}
    assert [a.path for a in stored_artifacts(blobs, 7, left, found)] == ["report.md", "plots"]
    from azuraforge.platform.blobs.s3 import S3Blobs  # boto3: imported where it is needed

    down = S3Blobs("s3://af/x", endpoint=f"http://127.0.0.1:{free_port()}",
                   access_key_id="a", secret_access_key="b")  # fmt: skip
    assert stored_artifacts(down, 7, left, found) == []  # cannot say what it holds


def test_the_folders_of_jobs_that_ended_are_dropped_but_those_left_for_the_store(
    tmp_path: Path,
) -> None:
    for job in ("1", "2", "3", "scratch"):
        (tmp_path / job).mkdir()
    leave_folder(tmp_path / "2")
    assert drop_ended_folders(tmp_path, lambda job: job != 3) == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2", "3", "scratch"]
    assert drop_ended_folders(tmp_path / "none", lambda job: True) == []
