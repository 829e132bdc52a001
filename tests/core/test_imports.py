"""The core imports only NumPy, the standard library and AzuraForge's own root modules."""

import ast
import sys
from pathlib import Path

import azuraforge.core

CORE = Path(azuraforge.core.__file__).parent
ALLOWED_ROOTS = {"numpy", "azuraforge", "__future__"} | set(sys.stdlib_module_names)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_core_imports_only_numpy_and_stdlib():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        f"{path.relative_to(CORE)}: {name}"
        for path in files
        for name in _imported_modules(path)
        if name.split(".")[0] not in ALLOWED_ROOTS
        or (
            name.startswith("azuraforge.")
            and not name.startswith(("azuraforge.core", "azuraforge.errors"))
        )
    }
    assert not offenders, offenders
