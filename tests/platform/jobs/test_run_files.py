"""A job's files: kept from its folder under runs/<id>, never a file a link names; the paths a
request names checked as names inside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import LocalBlobs
from azuraforge.platform.jobs.run_files import keep_folder, run_key


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
