"""``azuraforge db``: create or migrate the store's database."""

from __future__ import annotations

import typer

from azuraforge.cli.blobs import copy_progress, say_copied
from azuraforge.cli.common import DatabaseUrl, Verbose, console, settings_with, user_errors

app = typer.Typer(help="Create or migrate the store's database.", no_args_is_help=True)


@app.command()
def upgrade(database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Apply every migration the database lacks (creates the tables on an empty one). A
    store from before the blob store has its home's files (runs/, models/) copied into the
    blob store first; the originals are left in place."""
    with user_errors(verbose):
        from azuraforge.platform.services.home_files import upgrade_store
        from azuraforge.platform.store.engine import shown_url

        settings = settings_with(database_url=database_url)
        with copy_progress("copying the home's files into the blob store") as progress:
            revision, copied = upgrade_store(settings, progress)
        if copied.copied or copied.kept or copied.refused:
            say_copied(copied, f"the home's files, into {settings.blob_store}")
        console.print(f"store {shown_url(settings.database_url)} is at schema {revision}")


@app.command()
def current(database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Print the database's schema revision and the one this AzuraForge needs."""
    with user_errors(verbose):
        from azuraforge.platform.store.engine import current_revision, head_revision, make_engine

        settings = settings_with(database_url=database_url)
        engine = make_engine(settings.database_url)
        try:
            revision = current_revision(engine) or "empty"
        finally:
            engine.dispose()
        console.print(f"database: {revision}; needed: {head_revision()}")
