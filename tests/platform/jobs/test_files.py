"""The data folder: a file setting names a file of it (or a registered dataset), checked where
a value enters and again where a worker runs it; nothing outside the folder is ever opened."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from azuraforge.apps import get_pipeline
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.blobs import LocalBlobs, open_blobs
from azuraforge.platform.jobs.files import (
    DataFolder,
    OutsideDataFolderError,
    PublishedData,
    StoredData,
    data_folder_of,
)
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DataFileRecord, Store

FORECASTER = get_pipeline("forecaster").Config
ESCAPES = [
    "/etc/passwd",
    "../outside.csv",
    "sub/../../outside.csv",
    "link-out.csv",
    "file:///etc/passwd",
    "inside.csv\x00.txt",
    "~/outside.csv",
    "~root/.bashrc",
    "",
    ".",
    "x" * 5000,
]


@pytest.fixture
def folder(tmp_path: Path) -> DataFolder:
    """``data/`` with ``inside.csv``, a link to it, and ``link-out.csv`` leading to a file
    beside the folder."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "inside.csv").write_text("date,x\n2020-01-01,1\n")
    (data / "sub" / "link-in.csv").symlink_to(data / "inside.csv")
    (tmp_path / "outside.csv").write_text("date,secret\n2020-01-01,42\n")
    (data / "link-out.csv").symlink_to(tmp_path / "outside.csv")
    return DataFolder(data)


@pytest.mark.parametrize("value", ESCAPES, ids=range(len(ESCAPES)))
def test_no_way_out_of_the_folder_is_accepted(folder: DataFolder, value: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        folder.file(value)
    assert str(folder.root) not in str(caught.value)


def test_files_inside_are_found_through_links_that_stay_inside(folder: DataFolder) -> None:
    inside = (folder.root / "inside.csv").resolve()
    assert folder.file("inside.csv") == inside
    assert folder.file("sub/../inside.csv") == inside
    assert folder.file("sub/link-in.csv") == inside
    assert folder.file(str(inside)) == inside  # absolute, but inside


def test_settings_are_stored_relative_and_opened_absolute(folder: DataFolder) -> None:
    stored = folder.confine(FORECASTER, {"csv": "sub/../inside.csv", "target": "x"})
    assert stored == {"csv": "inside.csv", "target": "x"}
    opened = folder.open(FORECASTER, stored)
    assert opened["csv"] == str((folder.root / "inside.csv").resolve())
    assert folder.confine(FORECASTER, {"csv": "london-daily"})["csv"] == "london-daily"


def test_each_bad_file_setting_is_named(folder: DataFolder) -> None:
    with pytest.raises(OutsideDataFolderError) as caught:
        folder.confine(FORECASTER, {"csv": "../outside.csv", "target": "x"})
    assert [loc for loc, _ in caught.value.problems] == [("csv",)]
    assert "'../outside.csv' is not a file of the server's data folder" in str(caught.value)


def test_a_worker_opens_no_file_outside_its_data_folder(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """A run stored without the services' check (an older server, a direct write to the
    store) still reads nothing outside the folder: the worker checks again."""
    secret = tmp_path / "secret.csv"
    secret.write_text("date,secret\n" + "".join(f"2020-01-{d:02},{d}\n" for d in range(1, 29)))
    record = store.create_experiment(
        "forecaster", {"csv": str(secret), "target": "secret", "epochs": 1}
    )
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    assert execute(store, lease, settings) == "failed"
    ended = store.get_experiment(record.id)
    assert ended.error is not None
    assert "is not a file of the server's data folder" in ended.error
    assert not [key for key in open_blobs(settings).list_keys() if key.endswith(".csv")]


@pytest.fixture
def two_machines(folder: DataFolder, tmp_path: Path) -> tuple[DataFolder, DataFolder]:
    """``folder`` as the API's, publishing to an object store (a folder outside both homes),
    and the same project's folder on a worker whose disk holds no data file."""
    blobs = LocalBlobs(tmp_path / "object-store")
    api = DataFolder(folder.root, published=PublishedData(blobs, tmp_path / "api-cache"))
    (tmp_path / "worker-data").mkdir()
    worker = DataFolder(
        tmp_path / "worker-data", published=PublishedData(blobs, tmp_path / "worker-cache")
    )
    return api, worker


def test_a_worker_of_another_disk_reads_the_file_as_published_where_the_job_was_accepted(
    two_machines: tuple[DataFolder, DataFolder], tmp_path: Path
) -> None:
    api, worker = two_machines
    stored = api.confine(FORECASTER, {"csv": "sub/link-in.csv", "target": "x"})
    assert stored["csv"] == "inside.csv"
    opened = Path(worker.open(FORECASTER, stored)["csv"])
    assert opened.is_relative_to(tmp_path / "worker-cache") and opened.name == "inside.csv"
    assert opened.read_text() == "date,x\n2020-01-01,1\n"
    assert worker.copies == [opened.parent]

    (api.root / "inside.csv").write_text("date,x\n2020-01-01,2\n")  # changed, then accepted
    assert Path(worker.open(FORECASTER, stored)["csv"]) == opened  # as last published
    api.confine(FORECASTER, stored)
    again = Path(worker.open(FORECASTER, stored)["csv"])
    assert again != opened and again.read_text() == "date,x\n2020-01-01,2\n"
    assert opened.read_text() == "date,x\n2020-01-01,1\n"  # a copy never changes


def test_a_file_never_published_or_followed_as_it_grows_is_the_workers_own(
    two_machines: tuple[DataFolder, DataFolder],
) -> None:
    api, worker = two_machines
    with pytest.raises(OutsideDataFolderError, match=r"no file 'inside\.csv'"):
        worker.open(FORECASTER, {"csv": "inside.csv", "target": "x"})
    (worker.root / "inside.csv").write_text("date,x\n")
    api.confine(FORECASTER, {"csv": "inside.csv", "target": "x"})
    grown = worker.open(FORECASTER, {"csv": "inside.csv"}, growing=True)["csv"]
    assert grown == str((worker.root / "inside.csv").resolve())


def test_a_copy_whose_bytes_are_not_those_published_is_refused_and_dropped(
    two_machines: tuple[DataFolder, DataFolder], tmp_path: Path
) -> None:
    api, worker = two_machines
    api.confine(FORECASTER, {"csv": "inside.csv", "target": "x"})
    [content] = [p for p in (tmp_path / "object-store").rglob("inside.csv") if "sha256" in str(p)]
    content.write_text("date,x\n2020-01-01,666\n")  # changed while it was being stored
    with pytest.raises(OutsideDataFolderError, match="changed while it was being stored"):
        worker.open(FORECASTER, {"csv": "inside.csv", "target": "x"})
    assert not content.exists() and not list((tmp_path / "worker-cache").rglob("*.csv"))
    api.confine(FORECASTER, {"csv": "inside.csv", "target": "x"})  # the API's bytes stored again
    opened = worker.open(FORECASTER, {"csv": "inside.csv", "target": "x"})["csv"]
    assert Path(opened).read_text() == "date,x\n2020-01-01,1\n"


def test_files_are_published_unless_the_blob_store_is_a_folder_of_the_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url="")
    embedded = data_folder_of(settings, "lab", open_blobs(settings))
    assert embedded.published is None and embedded.root == tmp_path / "home/data/projects/lab"
    shared = data_folder_of(settings, "lab", LocalBlobs(tmp_path / "shared"))
    assert shared.published is not None and shared.project == "lab"


@pytest.fixture
def stored(tmp_path: Path, database_url: str) -> tuple[DataFolder, Store]:
    """An empty data folder of ``default`` on this machine, whose stored files are in a
    folder blob store apart and in the store at ``database_url``; and the store."""
    store = Store(database_url)
    data = StoredData(store, LocalBlobs(tmp_path / "blobs"), tmp_path / "cache", "default")
    return DataFolder(tmp_path / "data", stored=data), store


def _upload(folder: DataFolder, name: str, text: str) -> None:
    """``text`` stored as the data file ``name`` (as an upload stores it)."""
    assert folder.stored is not None
    path = folder.root.parent / "upload.csv"
    path.write_text(text)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    file = DataFileRecord(name, len(text), 0.0, digest, ("date", "x"), 1, ",")
    folder.stored.put(path, file, overwrite=True)


def test_a_stored_file_is_named_where_it_enters_and_opened_from_the_cache(
    stored: tuple[DataFolder, Store], tmp_path: Path
) -> None:
    folder, _ = stored
    _upload(folder, "sub/sales.csv", "date,x\n2020-01-01,1\n")
    kept = folder.confine(FORECASTER, {"csv": "sub/sales.csv", "target": "x"})
    assert kept["csv"] == "sub/sales.csv"
    opened = Path(folder.open(FORECASTER, kept)["csv"])
    assert opened.is_relative_to(tmp_path / "cache" / "data" / "default")
    assert opened.read_text() == "date,x\n2020-01-01,1\n"
    (folder.root / "sub").mkdir(parents=True)
    (folder.root / "sub" / "sales.csv").write_text("date,x\n")  # being written: a stream
    grown = folder.open(FORECASTER, kept, growing=True)["csv"]
    assert grown == str((folder.root / "sub" / "sales.csv").resolve())


@pytest.mark.parametrize("name", ["../outside.csv", "/etc/passwd", "sub/../../outside.csv"])
def test_a_stored_row_naming_a_way_out_opens_nothing_outside(
    stored: tuple[DataFolder, Store], tmp_path: Path, name: str
) -> None:
    """A row the upload's checks never let in (written by hand): the worker's check refuses
    it again."""
    folder, store = stored
    (tmp_path / "outside.csv").write_text("date,secret\n2020-01-01,42\n")
    store.set_data_file(DataFileRecord(name, 1, 0.0, "0" * 64, ("date", "secret"), 1, ","))
    with pytest.raises(OutsideDataFolderError) as caught:
        folder.open(FORECASTER, {"csv": name, "target": "x"})
    assert str(tmp_path) not in str(caught.value)


def test_a_link_in_the_cache_leading_out_is_refused(
    stored: tuple[DataFolder, Store], tmp_path: Path
) -> None:
    folder, store = stored
    _upload(folder, "sales.csv", "date,x\n2020-01-01,1\n")
    assert not list((tmp_path / "cache").rglob("sales.csv"))  # none yet: made at first use
    file = store.find_data_file("sales.csv")
    assert file is not None
    (tmp_path / "outside.csv").write_text("date,x\n2020-01-01,1\n")  # the same bytes
    place = tmp_path / "cache" / "data" / "default" / "sha256" / file.sha256
    place.mkdir(parents=True)
    (place / "sales.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(OutsideDataFolderError, match="leads out of its cache folder"):
        folder.open(FORECASTER, {"csv": "sales.csv", "target": "x"})
