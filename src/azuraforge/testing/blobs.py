"""`BlobStoreContract`: what every blob store keeps, checked on a real one.

The contract is :class:`~azuraforge.platform.blobs.BlobStore`'s docstring: writes all or
nothing, large blobs streamed in bounded memory, a missing key a
:class:`~azuraforge.errors.NotFoundError` naming it, sorted listings below folder-like
prefixes, copies independent of their source, and every bad key refused before the backend
sees it.

Subclass it in a test module (under a name starting with ``Test``) and define one fixture:

``blobs``
    An empty store of the backend under test, new for each test (a new folder, or a new
    prefix in a bucket), emptied afterwards if it outlives the test.

The large-blob test writes and reads :attr:`BlobStoreContract.large_size` bytes and fails
if Python's allocations peak above :attr:`BlobStoreContract.memory_limit` meanwhile.
"""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import BlobStore

BAD_KEYS = {
    "": "it is empty",
    "/etc/passwd": "absolute",
    "runs/../../etc": "'..' name",
    "runs/./12": "'.' name",
    "runs\\12": "backslash",
    "runs/1\x002": "control character",
    "runs//12": "empty name",
    "runs/12/": "empty name",
    "runs/.model.npz.part": "unfinished writes",
    "r" * 901: "more than 900",
    "runs/" + "n" * 256: "more than 255",
}
"""Keys every store refuses, with a part of the rule its message names."""

MISSING = "runs/404/report.md"


class BlobStoreContract:
    """The tests every blob store passes; see the module docstring for the fixture needed."""

    large_size: ClassVar[int] = 24 << 20
    """Bytes of the large blob (several multipart parts on an object store)."""
    memory_limit: ClassVar[int] = 8 << 20
    """Most bytes Python may hold at once while the large blob is written and read."""

    def test_round_trips(self, blobs: BlobStore, tmp_path: Path) -> None:
        blobs.put_bytes("runs/1/report.md", b"# report")
        with blobs.open_writer("runs/1/model.bin") as out:
            out.write(b"weights ")
            out.write(b"and biases")
        source = tmp_path / "input.csv"
        source.write_bytes(bytes(range(256)) * 300)
        blobs.put_file(source, "predictions/7/input.csv")
        blobs.put_bytes("raporlar/ağırlık ölçümü.md", "ölçüm".encode())
        blobs.put_bytes("empty", b"")

        assert blobs.get_bytes("runs/1/report.md") == b"# report"
        with blobs.open_reader("runs/1/model.bin") as reader:
            assert (reader.read(8), reader.read()) == (b"weights ", b"and biases")
        blobs.get_file("predictions/7/input.csv", tmp_path / "back" / "input.csv")
        assert (tmp_path / "back" / "input.csv").read_bytes() == source.read_bytes()
        assert blobs.get_bytes("raporlar/ağırlık ölçümü.md").decode() == "ölçüm"
        assert (blobs.get_bytes("empty"), blobs.size("empty")) == (b"", 0)
        assert blobs.size("predictions/7/input.csv") == 256 * 300
        assert blobs.exists("runs/1/report.md") and not blobs.exists("runs/1/other.md")

        blobs.put_bytes("runs/1/report.md", b"# report, rewritten")
        assert blobs.get_bytes("runs/1/report.md") == b"# report, rewritten"

    def test_large_blob_streams_in_bounded_memory(self, blobs: BlobStore, tmp_path: Path) -> None:
        block = random.Random(49).randbytes(1 << 20)
        written = hashlib.sha256()
        tracemalloc.start()
        try:
            with blobs.open_writer("runs/2/large.bin") as out:
                for index in range(self.large_size >> 20):
                    chunk = index.to_bytes(8, "big") + block[8:]
                    out.write(chunk)
                    written.update(chunk)
            read = hashlib.sha256()
            for chunk in blobs.iter_chunks("runs/2/large.bin"):
                read.update(chunk)
            blobs.get_file("runs/2/large.bin", tmp_path / "large.bin")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert blobs.size("runs/2/large.bin") == self.large_size
        assert read.hexdigest() == written.hexdigest()
        assert _file_digest(tmp_path / "large.bin") == written.hexdigest()
        assert peak < self.memory_limit, (
            f"{peak:,} bytes held at once, {self.memory_limit:,} allowed"
        )

    def test_failed_write_leaves_the_key_as_it_was(self, blobs: BlobStore) -> None:
        _interrupted(blobs, "runs/3/model.bin")
        assert not blobs.exists("runs/3/model.bin")
        assert list(blobs.list_keys()) == []

        blobs.put_bytes("runs/3/model.bin", b"version 1")

        def still_version_1() -> None:
            assert blobs.get_bytes("runs/3/model.bin") == b"version 1"

        _interrupted(blobs, "runs/3/model.bin", during=still_version_1)
        still_version_1()
        assert list(blobs.list_keys()) == ["runs/3/model.bin"]

    def test_listing_gives_the_sorted_keys_below_a_prefix(self, blobs: BlobStore) -> None:
        keys = ["runs/1/sub/b.txt", "runs/12/c.txt", "runs/1.txt", "models/m/1/x", "runs/1/a"]
        for key in keys:
            blobs.put_bytes(key, key.encode())
        below = ["runs/1/a", "runs/1/sub/b.txt"]
        assert list(blobs.list_keys("runs/1")) == below
        assert list(blobs.list_keys("runs/1/")) == below
        assert list(blobs.list_keys()) == sorted(keys)
        assert list(blobs.list_keys("runs/1.txt")) == []
        assert list(blobs.list_keys("nothing/here")) == []

    def test_delete_and_delete_prefix(self, blobs: BlobStore) -> None:
        keys = ["runs/1/a", "runs/1/sub/b", "runs/12/c", "runs/1.txt", "models/m/x"]
        for key in keys:
            blobs.put_bytes(key, b".")
        blobs.delete("runs/1/a")
        blobs.delete("runs/1/a")
        blobs.delete("never/written")
        assert not blobs.exists("runs/1/a")
        assert blobs.delete_prefix("runs/1") == 1
        assert blobs.delete_prefix("runs/1") == 0
        assert list(blobs.list_keys()) == ["models/m/x", "runs/1.txt", "runs/12/c"]
        blobs.put_bytes("runs/1/again", b"a folder emptied can be written again")
        assert blobs.delete_prefix("") == 4
        assert list(blobs.list_keys()) == []

    def test_copies_are_independent_of_their_source(self, blobs: BlobStore) -> None:
        blobs.put_bytes("runs/4/artifact/model.npz", b"weights")
        blobs.put_bytes("runs/4/artifact/meta/artifact.json", b"{}")
        blobs.put_bytes("runs/4/report.md", b"# not in the artifact")
        blobs.copy("runs/4/report.md", "reports/4.md")
        assert blobs.copy_prefix("runs/4/artifact", "models/forecaster/3") == 2
        blobs.put_bytes("runs/4/artifact/model.npz", b"retrained")
        blobs.delete("runs/4/report.md")

        assert list(blobs.list_keys("models")) == [
            "models/forecaster/3/meta/artifact.json",
            "models/forecaster/3/model.npz",
        ]
        assert blobs.get_bytes("models/forecaster/3/model.npz") == b"weights"
        assert blobs.get_bytes("reports/4.md") == b"# not in the artifact"
        with pytest.raises(NotFoundError, match="runs/9/x"):
            blobs.copy("runs/9/x", "copied")
        assert not blobs.exists("copied")

    def test_folders_round_trip(self, blobs: BlobStore, tmp_path: Path) -> None:
        folder = tmp_path / "run"
        (folder / "artifact").mkdir(parents=True)
        (folder / "report.md").write_text("# report")
        (folder / "artifact" / "model.npz").write_bytes(b"\x00weights")
        assert blobs.put_folder(folder, "runs/5") == 2
        assert blobs.get_folder("runs/5", tmp_path / "back") == 2
        assert (tmp_path / "back" / "report.md").read_text() == "# report"
        assert (tmp_path / "back" / "artifact" / "model.npz").read_bytes() == b"\x00weights"

    def test_a_missing_key_is_not_found_and_named(self, blobs: BlobStore, tmp_path: Path) -> None:
        reads: dict[str, Callable[[], Any]] = {
            "open_reader": lambda: blobs.open_reader(MISSING),
            "iter_chunks": lambda: blobs.iter_chunks(MISSING),
            "get_bytes": lambda: blobs.get_bytes(MISSING),
            "get_file": lambda: blobs.get_file(MISSING, tmp_path / "out" / "report.md"),
            "size": lambda: blobs.size(MISSING),
        }
        for name, read in reads.items():
            with pytest.raises(NotFoundError, match=MISSING) as caught:
                read()
            assert blobs.describe() in str(caught.value), name
            assert MISSING in caught.value.public, name
            assert blobs.describe() not in caught.value.public, name
        assert not blobs.exists(MISSING)
        assert list((tmp_path / "out").iterdir()) == [], "get_file left a file behind"

    def test_bad_keys_are_refused_naming_the_rule(self, blobs: BlobStore) -> None:
        for key, rule in BAD_KEYS.items():
            with pytest.raises(InvalidParameterError, match="is refused") as caught:
                blobs.put_bytes(key, b"x")
            assert rule in str(caught.value), (key, str(caught.value))
        assert list(blobs.list_keys()) == []

    def test_every_operation_checks_its_keys(self, blobs: BlobStore, tmp_path: Path) -> None:
        blobs.put_bytes("ok", b"kept")
        bad = "../escape"
        (tmp_path / "file").write_bytes(b"x")
        calls: list[Callable[[], Any]] = [
            lambda: blobs.open_writer(bad),
            lambda: blobs.open_reader(bad),
            lambda: blobs.iter_chunks(bad),
            lambda: blobs.get_bytes(bad),
            lambda: blobs.put_bytes(bad, b"x"),
            lambda: blobs.put_file(tmp_path / "file", bad),
            lambda: blobs.get_file(bad, tmp_path / "out"),
            lambda: blobs.put_folder(tmp_path, bad),
            lambda: blobs.get_folder(bad, tmp_path / "out"),
            lambda: blobs.exists(bad),
            lambda: blobs.size(bad),
            lambda: blobs.list_keys(bad),
            lambda: blobs.delete(bad),
            lambda: blobs.delete_prefix(bad),
            lambda: blobs.copy(bad, "copied"),
            lambda: blobs.copy("ok", bad),
            lambda: blobs.copy_prefix(bad, "copied"),
            lambda: blobs.copy_prefix("", bad),
        ]
        for index, call in enumerate(calls):
            with pytest.raises(InvalidParameterError, match=r"'\.\./escape' is refused"):
                call()
            assert list(blobs.list_keys()) == ["ok"], f"call {index} wrote something"
        assert not (tmp_path / "out").exists()


def _interrupted(blobs: BlobStore, key: str, during: Callable[[], None] = lambda: None) -> None:
    """Start writing ``key``, call ``during``, then fail inside the block."""
    with pytest.raises(RuntimeError, match="interrupted"), blobs.open_writer(key) as out:
        out.write(b"half a blob")
        during()
        raise RuntimeError("interrupted")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
