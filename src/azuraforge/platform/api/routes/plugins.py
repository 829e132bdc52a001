"""``/plugins``: the files of the plugin folder this API process loaded, with their SHA-256
(a server admin's)."""

from __future__ import annotations

from fastapi import APIRouter

from azuraforge.learn.plugin_folder import loaded_folder
from azuraforge.platform.api.access import SERVER_ADMIN
from azuraforge.platform.api.schemas.plugins import PluginFilePublic, PluginFilesPublic

router = APIRouter(prefix="/plugins", tags=["plugins"])


@router.get("", dependencies=[SERVER_ADMIN], response_model=PluginFilesPublic)
def list_plugin_files() -> PluginFilesPublic:
    """Each file of the plugin folder, loaded or not (and why), its SHA-256 and what it
    declares; the digest ``/health`` compares between replicas. Server admins only."""
    loaded = loaded_folder()
    data = [
        PluginFilePublic(
            name=file.name, sha256=file.sha256, declares=list(file.declares),
            error=file.error or None,
        )
        for file in loaded.files
    ]  # fmt: skip
    return PluginFilesPublic(configured=loaded.folder is not None, digest=loaded.digest, data=data)
