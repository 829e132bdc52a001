"""The data folder: a file setting names a file of it (or a registered dataset), checked where
a value enters and again where a worker runs it; nothing outside the folder is ever opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.apps import get_pipeline
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.files import DataFolder, OutsideDataFolderError
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

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
