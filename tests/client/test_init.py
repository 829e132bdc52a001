"""The client's public API: ``__all__`` complete and importable; importing it pulls in neither
the command line nor the platform's server side, and it works where none of them (nor Rich,
Click, pydantic) is installed, as with ``pip install httpx`` alone."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import azuraforge.client as client_package

SERVER_SIDE = ("fastapi", "starlette", "sqlalchemy", "alembic", "celery", "redis", "optuna")
COMMAND_LINE = ("typer", "azuraforge.cli")
NOT_NEEDED = (*SERVER_SIDE, *COMMAND_LINE, "azuraforge.platform", "rich", "click", "pydantic")


def run_python(program: str) -> str:
    """What ``program`` prints in a fresh interpreter (it must exit 0)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(program)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_public_class_and_function_is_exported_and_documented() -> None:
    assert len(client_package.__all__) == len(set(client_package.__all__))
    namespace: dict[str, object] = {}
    exec("from azuraforge.client import *", namespace)
    for name in client_package.__all__:
        exported = getattr(client_package, name)
        assert namespace[name] is exported and inspect.getdoc(exported), name


def test_importing_the_client_imports_no_command_line_and_no_server_side() -> None:
    found = run_python(
        f"""
        import sys
        import azuraforge.client
        loaded = [name for name in {[*SERVER_SIDE, *COMMAND_LINE, "azuraforge.platform"]!r}
                  if name in sys.modules]
        # httpx imports its own command line (with Rich) when Click is installed
        rich = "rich" in sys.modules and "httpx._main" not in sys.modules
        print(loaded, rich)
        """
    )
    assert found.split() == ["[]", "False"]


def test_the_client_works_without_any_of_them_installed() -> None:
    found = run_python(
        f"""
        import sys

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name in {NOT_NEEDED!r} or name.split(".")[0] in {NOT_NEEDED!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, NotInstalled())
        from azuraforge.client import Client
        from azuraforge.errors import StoreUnavailableError

        try:
            Client("http://127.0.0.1:9", timeout=2).runs.list()
        except StoreUnavailableError as e:
            print(e)
        """
    )
    assert found.startswith("cannot reach the AzuraForge API at http://127.0.0.1:9")
