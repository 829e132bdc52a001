"""No module of the package imports another module's private names (STYLE §3): what modules
share has a public name with a docstring, and a ``_private`` module is reached only through
its package's public re-export."""

from __future__ import annotations

import ast
from pathlib import Path

import azuraforge

PACKAGE = Path(azuraforge.__file__).parent


def private_imports(path: Path) -> list[str]:
    """``line module.name`` of each private name ``path`` imports from the package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        ours = node.level > 0 or (node.module or "").split(".")[0] == "azuraforge"
        for alias in node.names if ours else ():
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                module = "." * node.level + (node.module or "")
                found.append(f"{node.lineno} {module.rstrip('.')}.{alias.name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{hit}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for hit in private_imports(path)
    ]
    assert found == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    module = tmp_path / "reader.py"
    module.write_text(
        "from azuraforge.platform.store.experiments import _records, records_of\n"
        "from . import _shared\nfrom numpy import _core\nfrom azuraforge import __version__\n"
    )
    assert private_imports(module) == [
        "1 azuraforge.platform.store.experiments._records",
        "2 ._shared",
    ]
