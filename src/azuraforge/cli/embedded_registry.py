"""The model registry of this machine's store, as the terminal's experts use it when no server
is configured: a trained adapter becomes the next version of ``expert-<name>`` there, where a
server started on the same store (``azuraforge serve``) serves it, as a logged-in
``train-expert`` registers it on its server.

The platform is imported when a function here is called, not with this module: the assistant's
commands work without the platform's extra, keeping their experts in the folder alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azuraforge.assist.adapters.registry import EXPERT_MODEL
from azuraforge.errors import ConflictError

if TYPE_CHECKING:
    from azuraforge.platform.store import Store


def platform_installed() -> bool:
    """Whether the platform's extra is installed (the store's and the registry's code)."""
    try:
        import azuraforge.platform.store  # noqa: F401
    except ImportError:
        return False
    return True


def register_in_store(model: str, run: int, description: str) -> int:
    """Register the model of run ``run`` of this machine's store as the next version of
    ``model``, made first when new; the version's number."""
    from azuraforge.platform.blobs import open_blobs
    from azuraforge.platform.services.registry import register_version
    from azuraforge.platform.settings import Settings

    with _store() as store:
        if store.find_model(model) is None:
            with suppress(ConflictError):  # made by another process meanwhile: register into it
                store.create_model(model)
        made = register_version(store, open_blobs(Settings()), model, run, description=description)
    return made.version


def store_expert_versions() -> tuple[str, list[dict[str, Any]]]:
    """Where this machine's store is (as messages show it), and the versions of its expert
    models (``expert-<name>``), newest first, as the API shows a version."""
    from azuraforge.platform.settings import Settings
    from azuraforge.platform.store.engine import shown_url

    settings = Settings()
    if not _exists(settings.database_url):
        return shown_url(settings.database_url), []
    with _store() as store:
        models, _ = store.list_models(limit=500)
        versions = [
            {"name": f"{v.model}/{v.version}", "aliases": v.aliases,
             "created_at": v.created_at, "metrics": v.metrics}
            for m in models if m.name.startswith(EXPERT_MODEL.format(""))
            for v in store.list_versions(m.name, limit=500)[0]
        ]  # fmt: skip
        return store.shown_url, versions


@contextmanager
def _store() -> Iterator[Store]:
    """This machine's store (``AZURAFORGE_DATABASE_URL``), made empty on first use."""
    from azuraforge.platform.settings import Settings
    from azuraforge.platform.store import Store, create_if_empty

    settings = Settings()
    create_if_empty(settings.database_url)
    store = Store(settings.database_url)
    try:
        yield store
    finally:
        store.close()


def _exists(database_url: str) -> bool:
    """Whether the store at ``database_url`` may hold anything: a server's, or a SQLite file
    that is there (listing makes none)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return True
    return Path(url.database).is_file()
