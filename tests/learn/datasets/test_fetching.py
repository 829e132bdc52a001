"""fetch(): mirrors, cache and download, each checked by SHA-256; downloads come from a real
HTTP server on 127.0.0.1, never from the internet."""

import gzip
import hashlib
import os
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from azuraforge.errors import ChecksumMismatchError, DatasetUnavailableError, NotFoundError
from azuraforge.learn.datasets import (
    HOME_VARIABLE,
    MIRROR_VARIABLE,
    DataFile,
    DatasetSpec,
    cache_folder,
    fetch,
    fetching,
    mirror_folders,
)

CSV = b"when,value\n2024-01-01,1.5\n2024-01-02,2.5\n"
IDX = bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_spec(url: str = "https://example.invalid/files", csv_sha: str = sha(CSV)) -> DatasetSpec:
    return DatasetSpec(
        "tiny",
        "a CSV and a gzip-compressed IDX file, for tests",
        (
            DataFile("tiny.csv", f"{url}/tiny.csv", csv_sha),
            DataFile("tiny-idx1-ubyte.gz", f"{url}/tiny-idx1-ubyte.gz", sha(IDX), compressed=True),
        ),
    )


def write_files(folder: Path, csv: bytes = CSV, idx_mtime: float = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.csv").write_bytes(csv)
    (folder / "tiny-idx1-ubyte.gz").write_bytes(gzip.compress(IDX, mtime=idx_mtime))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No mirror, an empty cache, nothing remembered from other tests."""
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "home"))
    monkeypatch.setattr(fetching, "_VERIFIED", {})


@pytest.fixture
def hashes(monkeypatch):
    """Records every file that is actually hashed."""
    hashed = []
    real = fetching._sha256

    def counting(path, compressed):
        hashed.append(Path(path).name)
        return real(path, compressed)

    monkeypatch.setattr(fetching, "_sha256", counting)
    return hashed


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving ``root``; ``requests`` lists the paths asked for."""
    root = tmp_path / "served"
    root.mkdir()
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format, *args):
            pass

    monkeypatch.setenv("no_proxy", "*")  # a proxy from the environment must not intercept
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(
        root=root, url=f"http://127.0.0.1:{httpd.server_address[1]}", requests=requests
    )
    httpd.shutdown()
    httpd.server_close()
    thread.join()


# --- where things are looked for -------------------------------------------------------------


def test_mirror_folders_from_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, os.pathsep.join([str(tmp_path / "a"), "", "~/b"]))
    assert mirror_folders() == [tmp_path / "a", Path.home() / "b"]


def test_cache_folder_from_home(tmp_path, monkeypatch):
    assert cache_folder() == tmp_path / "home" / "datasets"
    monkeypatch.delenv(HOME_VARIABLE)
    assert cache_folder() == Path.home() / ".azuraforge" / "datasets"


def test_unknown_dataset_name():
    with pytest.raises(NotFoundError, match="no dataset named 'tinny'; known: beijing-hourly"):
        fetch("tinny")


# --- mirrors ---------------------------------------------------------------------------------


def test_file_directly_in_a_mirror_is_used_in_place(tmp_path, monkeypatch):
    write_files(tmp_path / "mirror")
    monkeypatch.setenv(MIRROR_VARIABLE, str(tmp_path / "mirror"))
    paths = fetch(tiny_spec())
    assert paths == {
        "tiny.csv": tmp_path / "mirror" / "tiny.csv",
        "tiny-idx1-ubyte.gz": tmp_path / "mirror" / "tiny-idx1-ubyte.gz",
    }
    assert not (tmp_path / "home").exists()  # nothing copied to the cache


def test_file_in_a_sub_folder_of_a_later_mirror(tmp_path, monkeypatch):
    write_files(tmp_path / "second" / "tables")
    (tmp_path / "first").mkdir()
    mirrors = [tmp_path / "missing", tmp_path / "first", tmp_path / "second"]
    monkeypatch.setenv(MIRROR_VARIABLE, os.pathsep.join(map(str, mirrors)))
    assert fetch(tiny_spec())["tiny.csv"] == tmp_path / "second" / "tables" / "tiny.csv"


def test_mirrors_given_as_an_argument_replace_the_variable(tmp_path, monkeypatch):
    write_files(tmp_path / "given")
    monkeypatch.setenv(MIRROR_VARIABLE, str(tmp_path / "ignored"))
    paths = fetch(tiny_spec(), mirrors=[tmp_path / "given"], cache=tmp_path / "cache")
    assert paths["tiny.csv"].parent == tmp_path / "given"


def test_one_mirror_folder_as_a_string(tmp_path):
    write_files(tmp_path / "mirror")
    assert fetch(tiny_spec(), mirrors=str(tmp_path / "mirror"))["tiny.csv"].parent.name == "mirror"


def test_compressed_files_are_checked_on_their_decompressed_bytes(tmp_path):
    # A different gzip wrapper (another mtime) around the same bytes is the same file.
    write_files(tmp_path / "mirror", idx_mtime=1_700_000_000)
    paths = fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])
    assert gzip.decompress(paths["tiny-idx1-ubyte.gz"].read_bytes()) == IDX


def test_wrong_hash_in_a_mirror_is_an_error_and_not_used(tmp_path, server):
    write_files(tmp_path / "mirror", csv=b"when,value\n2024-01-01,9.9\n")
    write_files(server.root)  # a good copy is downloadable, but the bad one is not skipped
    with pytest.raises(ChecksumMismatchError) as caught:
        fetch(tiny_spec(server.url), mirrors=[tmp_path / "mirror"])
    message = str(caught.value)
    assert f"tiny.csv of dataset 'tiny' at {tmp_path / 'mirror' / 'tiny.csv'}" in message
    assert f"expected {sha(CSV)}" in message
    assert sha(b"when,value\n2024-01-01,9.9\n") in message
    assert "not used" in message
    assert server.requests == []
    assert not (tmp_path / "home").exists()


def test_a_gzip_whose_compressed_bytes_match_is_still_a_mismatch(tmp_path):
    write_files(tmp_path / "mirror")
    packed = (tmp_path / "mirror" / "tiny-idx1-ubyte.gz").read_bytes()
    spec = DatasetSpec("packed", "hash of the .gz itself", (
        DataFile("tiny-idx1-ubyte.gz", "https://example.invalid/x.gz", sha(packed), True),
    ))  # fmt: skip
    with pytest.raises(ChecksumMismatchError, match="SHA-256 of the decompressed bytes"):
        fetch(spec, mirrors=[tmp_path / "mirror"])


def test_a_broken_gzip_is_a_mismatch(tmp_path):
    write_files(tmp_path / "mirror")
    path = tmp_path / "mirror" / "tiny-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(ChecksumMismatchError, match="not a complete gzip file"):
        fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])


def test_a_mirror_file_is_hashed_once_per_process(tmp_path, hashes):
    write_files(tmp_path / "mirror")
    fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])
    fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])
    assert sorted(hashes) == ["tiny-idx1-ubyte.gz", "tiny.csv"]


def test_a_changed_mirror_file_is_hashed_again(tmp_path, hashes):
    write_files(tmp_path / "mirror")
    fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])
    (tmp_path / "mirror" / "tiny.csv").write_bytes(CSV.replace(b"1.5", b"7.5"))
    with pytest.raises(ChecksumMismatchError, match=r"tiny\.csv"):
        fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])


# --- cache -----------------------------------------------------------------------------------


def test_cache_hit(tmp_path, hashes):
    cached = tmp_path / "home" / "datasets" / "tiny"
    write_files(cached)
    assert fetch(tiny_spec()) == {
        "tiny.csv": cached / "tiny.csv",
        "tiny-idx1-ubyte.gz": cached / "tiny-idx1-ubyte.gz",
    }
    assert len(hashes) == 2
    assert (cached / "tiny.csv.sha256").read_text().startswith(sha(CSV))


def test_cache_hit_in_a_new_process_does_not_hash_again(tmp_path, hashes, monkeypatch):
    write_files(tmp_path / "home" / "datasets" / "tiny")
    fetch(tiny_spec())
    monkeypatch.setattr(fetching, "_VERIFIED", {})  # what a new process starts with
    fetch(tiny_spec())
    assert len(hashes) == 2  # the .sha256 markers answered the second time


def test_a_changed_cached_file_is_an_error(tmp_path):
    cached = tmp_path / "home" / "datasets" / "tiny"
    write_files(cached)
    fetch(tiny_spec())
    (cached / "tiny.csv").write_bytes(b"when,value\n")
    with pytest.raises(ChecksumMismatchError, match="delete it to download it again"):
        fetch(tiny_spec())


def test_a_mirror_wins_over_the_cache(tmp_path):
    write_files(tmp_path / "home" / "datasets" / "tiny")
    write_files(tmp_path / "mirror")
    assert fetch(tiny_spec(), mirrors=[tmp_path / "mirror"])["tiny.csv"].parent.name == "mirror"


# --- download --------------------------------------------------------------------------------


def test_download_to_the_cache(tmp_path, server):
    write_files(server.root)
    paths = fetch(tiny_spec(server.url))
    cached = tmp_path / "home" / "datasets" / "tiny"
    assert paths["tiny.csv"] == cached / "tiny.csv"
    assert paths["tiny.csv"].read_bytes() == CSV
    assert sorted(server.requests) == ["/tiny-idx1-ubyte.gz", "/tiny.csv"]
    assert sorted(p.name for p in cached.iterdir()) == [
        "tiny-idx1-ubyte.gz",
        "tiny-idx1-ubyte.gz.sha256",
        "tiny.csv",
        "tiny.csv.sha256",
    ]  # no partial files left behind


def test_second_fetch_uses_the_download(server, hashes):
    write_files(server.root)
    fetch(tiny_spec(server.url))
    fetch(tiny_spec(server.url))
    assert len(server.requests) == 2
    assert len(hashes) == 2


def test_download_to_a_given_cache(tmp_path, server):
    write_files(server.root)
    paths = fetch(tiny_spec(server.url), cache=tmp_path / "elsewhere")
    assert paths["tiny.csv"] == tmp_path / "elsewhere" / "tiny" / "tiny.csv"


def test_download_with_a_wrong_hash_is_not_cached(tmp_path, server):
    write_files(server.root, csv=b"when,value\n")
    with pytest.raises(ChecksumMismatchError) as caught:
        fetch(tiny_spec(server.url))
    assert f"downloaded from {server.url}/tiny.csv" in str(caught.value)
    assert f"expected {sha(CSV)}" in str(caught.value)
    assert list((tmp_path / "home" / "datasets" / "tiny").iterdir()) == []


def test_404_names_the_url_the_variable_and_what_was_tried(tmp_path, server):
    (tmp_path / "mirror").mkdir()
    with pytest.raises(DatasetUnavailableError) as caught:
        fetch(tiny_spec(server.url), mirrors=[tmp_path / "mirror"])
    message = str(caught.value)
    assert message.startswith(f"cannot get tiny.csv of dataset 'tiny': the download from "
                              f"{server.url}/tiny.csv failed (HTTP Error 404")  # fmt: skip
    assert f"mirror {tmp_path / 'mirror'}: no tiny.csv in it or its sub-folders" in message
    assert f"cache {tmp_path / 'home' / 'datasets' / 'tiny' / 'tiny.csv'}: not there" in message
    assert f"a folder listed in {MIRROR_VARIABLE}" in message
    assert isinstance(caught.value, OSError)
    assert list((tmp_path / "home" / "datasets" / "tiny").iterdir()) == []


def test_unreachable_server(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DatasetUnavailableError) as caught:
        fetch(tiny_spec(f"http://127.0.0.1:{port}"), timeout=5)
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/tiny.csv failed" in message
    assert f"no mirror ({MIRROR_VARIABLE} is unset or empty)" in message
    assert not isinstance(caught.value, ChecksumMismatchError)
