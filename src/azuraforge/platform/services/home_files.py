"""A home's files from before the blob store, copied into it when its database is upgraded.

Before the blob store, rows named folders of one machine: a run's ``home/runs/<id>`` (or the
folder ``azuraforge run`` recorded, a prediction job's ``home/runs/prediction-...``) and a
registered version's ``home/models/<model>/<12 hex>``. Migration ``0022_blob_keys`` turns them
into keys (``runs/<id>/...``, ``models/<model>/<12 hex>/...``), and a migration sees only
the database: :func:`upgrade_store` (``azuraforge db upgrade``, ``azuraforge serve
--upgrade``) first copies each folder the rows name to its key in the settings' blob store,
then migrates. The originals are left where they were (remove ``home/runs`` and
``home/models`` once the upgraded server works); a copy cut short is taken up again by the
next upgrade, which copies only what is missing.

Data files (the CSV files of each project's data folder, ``data_dir`` and
``data_dir/projects/<project>``) are kept in the blob store since migration ``0035_data_files``:
the upgrade stores each one no stored file names yet, after migrating
(:func:`take_in_data_files`), and leaves the originals in the folders, where the stored files
hide them.
"""

from __future__ import annotations

from pathlib import Path

from azuraforge.platform.blobs import BlobStore, LocalBlobs, open_blobs
from azuraforge.platform.blobs.transfer import Copied, Progress, copy_blobs
from azuraforge.platform.jobs.files import data_folder_of
from azuraforge.platform.jobs.run_files import run_prefix
from azuraforge.platform.services.data_files import DataFiles
from azuraforge.platform.services.registry import MODELS
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, upgrade_database
from azuraforge.platform.store.legacy import home_folders

RUNS = "runs"
"""The folder of the home where runs kept their files before the blob store."""


def upgrade_store(settings: Settings, progress: Progress | None = None) -> tuple[str, Copied]:
    """Copy the home's files the database names into the blob store
    (:func:`copy_home_files`), migrate the database, then store the files of the data
    folders (:func:`take_in_data_files`); its revision, and what was copied."""
    blobs = open_blobs(settings)
    copied = copy_home_files(settings, blobs, progress)
    revision = upgrade_database(settings.database_url)
    copied.add(take_in_data_files(settings, blobs))
    return revision, copied


def take_in_data_files(settings: Settings, blobs: BlobStore) -> Copied:
    """Store in ``blobs`` each CSV file of each project's data folder on disk
    (``data_dir``, ``data_dir/projects/<project>``) whose name the project has not stored
    (:meth:`~azuraforge.platform.services.data_files.DataFiles.take_in`): the files of a home
    from before data files were blobs. Run again, it stores only what is missing; the files
    are left in the folders (the stored ones hide them; remove the folders once the upgraded
    servers work)."""
    done = Copied()
    store = Store(settings.database_url)
    try:
        for project in store.list_projects():
            done.add(DataFiles(data_folder_of(settings, project, blobs, store), store).take_in())
    finally:
        store.close()
    return done


def copy_home_files(
    settings: Settings, blobs: BlobStore, progress: Progress | None = None
) -> Copied:
    """Copy each folder the rows of the settings' database name, while they name folders
    (before migration ``0022_blob_keys``), to its key in ``blobs``; ``progress`` is told
    ``(done, total, key)`` within each folder. Nothing for a database past it."""
    found = home_folders(settings.database_url)
    folders = [
        (Path(path) if path else settings.home / RUNS / str(run), run_prefix(run))
        for run, path in found.runs
    ]
    folders += [(settings.home / MODELS / path, f"{MODELS}/{path}") for path in found.versions]
    done = Copied()
    for folder, prefix in folders:
        if folder.is_dir():
            done.add(copy_blobs(LocalBlobs(folder), blobs, to=prefix, progress=progress))
    return done
