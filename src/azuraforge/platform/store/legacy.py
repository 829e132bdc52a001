"""What a database from before the blob store names on disk: its runs' folders and its
registered versions' folders, read before migration ``0022_blob_keys`` turns them into keys,
so that ``azuraforge db upgrade`` copies the files there first
(:func:`~azuraforge.platform.services.home_files.copy_home_files`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, inspect, text

from azuraforge.platform.store.engine import current_revision, make_engine, revisions_after

BLOB_KEYS = "0022_blob_keys"
"""The revision from which rows hold blob keys, never paths."""


@dataclass(frozen=True)
class HomeFolders:
    """The folders a database before :data:`BLOB_KEYS` names: each run's (its recorded
    ``output_dir``, or ``None`` for ``home/runs/<id>``) and each registered version's
    (its ``artifact_path``, below ``home/models``)."""

    runs: list[tuple[int, str | None]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def home_folders(url: str) -> HomeFolders:
    """The folders the database at ``url`` names, when upgrading it runs :data:`BLOB_KEYS`;
    none for an empty database or one at that revision or later."""
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        pending = current is not None and BLOB_KEYS in revisions_after(current)
        return _read(engine) if pending else HomeFolders()
    finally:
        engine.dispose()


def _read(engine: Engine) -> HomeFolders:
    tables = inspect(engine)
    names = {column["name"] for column in tables.get_columns("experiments")}
    folder = "output_dir" if "output_dir" in names else "NULL"  # before 0003_output_dir: none
    registry = tables.has_table("model_versions")
    with engine.connect().execution_options(azuraforge_read_only=True) as connection:
        runs = connection.execute(text(f"SELECT id, {folder} FROM experiments ORDER BY id"))
        found = HomeFolders(runs=[(int(run), path) for run, path in runs])
        if registry:
            paths = connection.execute(text("SELECT artifact_path FROM model_versions"))
            found.versions.extend(path for (path,) in paths)
    return found
