"""BlobCache: a prefix copied to this machine once, whole, and only ever inside its folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import BlobCache, LocalBlobs


def test_a_prefix_is_copied_once_and_then_read_from_the_copy(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("models/m/1/artifact.json", b"{}")
    blobs.put_bytes("models/m/1/weights/model.npz", b"weights")
    blobs.put_bytes("models/m/10/artifact.json", b"another version")
    cache = BlobCache(blobs, tmp_path / "cache")

    folder = cache.folder("models/m/1")
    assert folder == tmp_path / "cache" / "models" / "m" / "1"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "artifact.json",
        "weights/model.npz",
    ]
    blobs.delete_prefix("models/m/1")  # the copy is what is read from now on
    assert (cache.folder("models/m/1") / "weights" / "model.npz").read_bytes() == b"weights"
    assert [p.name for p in folder.parent.iterdir()] == ["1"]  # no part left behind


def test_nothing_below_a_prefix_is_not_found_and_leaves_no_folder(tmp_path: Path) -> None:
    cache = BlobCache(LocalBlobs(tmp_path / "blobs"), tmp_path / "cache")
    with pytest.raises(NotFoundError, match="no blob below 'models/gone/1'"):
        cache.folder("models/gone/1")
    assert not list((tmp_path / "cache").rglob("*1*"))


@pytest.mark.parametrize("prefix", ["", "models/../../etc", "/etc"])
def test_a_prefix_that_is_no_folder_of_the_cache_is_refused(tmp_path: Path, prefix: str) -> None:
    cache = BlobCache(LocalBlobs(tmp_path / "blobs"), tmp_path / "cache")
    with pytest.raises(InvalidParameterError):
        cache.folder(prefix)


def test_a_link_in_the_cache_leading_out_of_it_is_refused(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    blobs.put_bytes("models/m/1/artifact.json", b"{}")
    (tmp_path / "cache" / "models").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "cache" / "models" / "m").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidParameterError, match="leads out of"):
        BlobCache(blobs, tmp_path / "cache").folder("models/m/1")
    assert not list((tmp_path / "elsewhere").iterdir())
