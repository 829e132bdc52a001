"""The model registry of this machine's store, as the terminal's experts use it when no server
is configured: a trained adapter becomes the next version of ``expert-<name>`` there, where a
server started on the same store (``azuraforge serve``) serves it, as a logged-in
``train-expert`` registers it on its server.

The platform is imported when a function here is called, not with this module: without the
platform's extra (:func:`~azuraforge.cli.common.platform_installed`), the assistant's commands
keep their experts in the folder alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azuraforge.assist.adapters.registry import EXPERT_MODEL
from azuraforge.cli.common import settings_with

if TYPE_CHECKING:
    from azuraforge.platform.store import Store


def register_in_store(model: str, run: int, description: str) -> int:
    """Register the model of run ``run`` of this machine's store as the next version of
    ``model``, made first when new; the version's number."""
    from azuraforge.platform.blobs import open_blobs
    from azuraforge.platform.services.registry import (
        EXPERT_DESCRIPTION,
        model_made_if_new,
        register_version,
    )

    settings = settings_with()
    with _store(settings.database_url) as store:
        model_made_if_new(store, model, description=EXPERT_DESCRIPTION)
        made = register_version(store, open_blobs(settings), model, run, description=description)
    return made.version


def store_expert_versions() -> tuple[str, list[dict[str, Any]]]:
    """Where this machine's store is (as messages show it), and the versions of its expert
    models (``expert-<name>``), newest first, as the API shows a version."""
    from azuraforge.platform.store.engine import shown_url

    url = settings_with().database_url
    if not _may_hold_anything(url):
        return shown_url(url), []
    with _store(url) as store:
        models, _ = store.list_models(limit=500)
        versions = [
            {"name": f"{v.model}/{v.version}", "aliases": v.aliases,
             "created_at": v.created_at, "metrics": v.metrics}
            for m in models if m.name.startswith(EXPERT_MODEL.format(""))
            for v in store.list_versions(m.name, limit=500)[0]
        ]  # fmt: skip
        return store.shown_url, versions


@contextmanager
def _store(url: str) -> Iterator[Store]:
    """The store at ``url`` (this machine's), made empty on first use."""
    from azuraforge.platform.store import Store, create_if_empty

    create_if_empty(url)
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def _may_hold_anything(url: str) -> bool:
    """Whether the store at ``url`` may hold anything: a server's, or a SQLite file that is
    there (listing makes none)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).is_file()
