"""The core imports only NumPy, threadpoolctl (the BLAS's thread count), the standard library
and AzuraForge's own root modules."""

import sys
from pathlib import Path

import azuraforge.core
from tests.helpers import imported_modules

CORE = Path(azuraforge.core.__file__).parent
ALLOWED_ROOTS = {"numpy", "threadpoolctl", "azuraforge", "__future__"}
ALLOWED_ROOTS |= set(sys.stdlib_module_names)


def test_core_imports_only_numpy_threadpoolctl_and_stdlib():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        f"{path.relative_to(CORE)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] not in ALLOWED_ROOTS
        or (
            name.startswith("azuraforge.")
            and not name.startswith(("azuraforge.core", "azuraforge.errors"))
        )
    }
    assert not offenders, offenders
