"""The package's public API: __all__ is complete and importable, the docs cover it, and
the metrics import nothing beyond NumPy, the standard library and lower layers."""

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import azuraforge.learn.metrics as metrics
from tests.helpers import imported_modules

PACKAGE = Path(metrics.__file__).parent
DOC = Path(__file__).parents[3] / "docs" / "metrics.md"
SUBMODULES = [
    importlib.import_module(f"azuraforge.learn.metrics.{info.name}")
    for info in pkgutil.iter_modules([str(PACKAGE)])
]


def test_every_name_in_all_is_importable():
    assert len(metrics.__all__) == len(set(metrics.__all__))
    namespace: dict[str, object] = {}
    exec("from azuraforge.learn.metrics import *", namespace)
    for name in metrics.__all__:
        assert getattr(metrics, name) is namespace[name]


def test_every_public_class_and_function_is_exported():
    defined = {
        name
        for module in SUBMODULES
        for name, obj in vars(module).items()
        if (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
        and name in getattr(module, "__all__", ())
    }
    assert defined == set(metrics.__all__)
    for module in SUBMODULES:
        public = {
            name
            for name, obj in vars(module).items()
            if (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__
            and not name.startswith("_")
        }
        # helpers a module shares with its siblings stay out of __all__ on purpose
        assert set(module.__all__) <= public, module.__name__


def test_every_name_is_documented():
    text = DOC.read_text()
    missing = [name for name in metrics.__all__ if f"`{name}" not in text]
    assert not missing, missing


def test_imports_only_numpy_stdlib_errors_and_core():
    allowed = ("azuraforge.errors", "azuraforge.core", "azuraforge.learn.metrics")
    offenders = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in imported_modules(path)
        if not (
            name.split(".")[0] in {"numpy", "__future__"} | set(sys.stdlib_module_names)
            or name.startswith(allowed)
        )
    }
    assert not offenders, offenders


def test_doc_report_example_prints_what_the_doc_shows(capsys):
    blocks = re.findall(r"```(python|text)\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    code = next(body for kind, body in blocks if kind == "python" and "print(" in body)
    shown = next(body for kind, body in blocks if kind == "text")
    exec(compile(code, str(DOC), "exec"), {})
    assert capsys.readouterr().out == shown
