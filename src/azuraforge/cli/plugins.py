"""``azuraforge plugins``: the files of the plugin folder (``plugins_dir``), as this machine's
processes load them; and :func:`load_plugins`, which the commands that look up a pipeline,
a source or a job kind call first."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from azuraforge.cli.common import (
    Verbose,
    console,
    platform_installed,
    settings_with,
    user_errors,
)
from azuraforge.learn.plugin_folder import LoadedFolder, load_folder


def load_plugins(settings: Any = None) -> LoadedFolder:
    """Import the plugin folder of ``settings`` (the environment's and settings file's when
    ``None``): each file that fails is a warning naming it. Without the platform extra there
    are no platform settings, so no plugin folder: the learner's commands work alone."""
    if settings is None and not platform_installed():
        return load_folder(None)
    return load_folder((settings or settings_with()).plugins_dir)


def plugins(verbose: Verbose = False) -> None:
    """List the files of the plugin folder (plugins_dir) with their SHA-256, what each
    declares, and whether it loaded; then the digest /health compares between replicas."""
    with user_errors(verbose):
        loaded = load_plugins()
        if loaded.folder is None:
            console.print("no plugin folder is set (AZURAFORGE_PLUGINS_DIR)")
            return
        for file in loaded.files:
            status = "[green]ok[/green]" if file.loaded else f"[red]{escape(file.error)}[/red]"
            console.print(f"{escape(file.name)}  {file.sha256 or '-'}  {status}", soft_wrap=True)
            for declared in file.declares:
                console.print(f"  {escape(declared)}", soft_wrap=True)
        console.print(f"digest {loaded.digest}")
