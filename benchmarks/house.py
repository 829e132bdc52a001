"""The figures of the house (issue 66): how the package's code is laid out, measured on the tree.

- Python lines of ``src/azuraforge``, and the platform's share;
- functions and methods over cyclomatic complexity 10 as radon counts it (``radon cc``; a
  closure counts in its function), the platform's share, and those over 15, named;
- functions over 60 lines outside the migrations (``def`` to the end, docstring included),
  named;
- modules over 600 lines, named;
- classes declared in the API's route modules, and ``*_schemas.py`` modules in ``api/``;
- uses of ``cast(Store``, and ``Store``'s public methods and the mixins it is made of.

``tests/test_house.py`` keeps the limits (complexity 15, 60 lines) true with the same
counters. Needs radon (the dev extras) and, for ``Store``, the platform's extra.

Usage::

    make house            # or: .venv/bin/python benchmarks/house.py [--json PATH]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "azuraforge"
PLATFORM = SRC / "platform"
MOST_COMPLEX = 10
"""Above it a function is counted as complex."""
COMPLEXITY_LIMIT = 15
"""Above it, a function is named (and ``tests/test_house.py`` fails)."""
LINES_LIMIT = 60
"""Above it, a function outside the migrations is named (and the test fails)."""
FILE_LIMIT = 600


@dataclass(frozen=True, order=True)
class Found:
    """A function (or a file) and its figure."""

    figure: int
    path: str
    name: str

    def __str__(self) -> str:
        return f"({self.figure}) {self.path} {self.name}".rstrip()


def python_files(under: Path = SRC) -> Iterator[Path]:
    """The package's Python files, in order."""
    yield from sorted(under.rglob("*.py"))


def shown(path: Path) -> str:
    """``path`` from the checkout's root (as it is when outside)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def complexities(threshold: int = MOST_COMPLEX, under: Path = SRC) -> list[Found]:
    """Functions and methods over complexity ``threshold``, as ``radon cc`` lists them."""
    found = []
    for path in python_files(under):
        for block in cc_visit(path.read_text(encoding="utf-8")):  # methods beside classes
            if isinstance(block, Function) and block.complexity > threshold:
                found.append(Found(block.complexity, shown(path), block.fullname))
    return sorted(found, reverse=True)


def long_functions(limit: int = LINES_LIMIT, under: Path = SRC) -> list[Found]:
    """Functions over ``limit`` lines (``def`` to the end), outside the migrations."""
    found = []
    for path in python_files(under):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    found.append(Found(lines, shown(path), node.name))
    return sorted(found, reverse=True)


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def lines_holding(path: Path, text: str) -> int:
    """How many lines of ``path`` hold ``text``."""
    return sum(text in line for line in path.read_text(encoding="utf-8").splitlines())


def big_files(limit: int = FILE_LIMIT) -> list[Found]:
    """Modules over ``limit`` lines."""
    sizes = (Found(line_count(path), shown(path), "") for path in python_files())
    return sorted((found for found in sizes if found.figure > limit), reverse=True)


def route_classes() -> list[str]:
    """``module: class`` of each class declared at the top of an API route module."""
    return [
        f"{shown(path)}: {node.name}"
        for path in python_files(PLATFORM / "api" / "routes")
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.ClassDef)
    ]


def store_surface() -> tuple[int, int]:
    """``Store``'s public methods (its own and its mixins') and the mixins it is made of."""
    from azuraforge.platform.store import Store

    methods = [name for name, _ in inspect.getmembers(Store, inspect.isfunction)]
    return sum(not name.startswith("_") for name in methods), len(Store.__bases__)


def figures() -> dict[str, Any]:
    """Every figure of the house, by name."""
    lines = sum(line_count(path) for path in python_files())
    platform_lines = sum(line_count(path) for path in python_files(PLATFORM))
    complex_ = complexities()
    public_methods, mixins = store_surface()
    return {
        "python_lines": lines,
        "platform_lines": platform_lines,
        "complexity_over_10": [str(found) for found in complex_],
        "complexity_over_10_in_platform": sum(
            found.path.startswith(shown(PLATFORM)) for found in complex_
        ),
        "complexity_over_15": [str(f) for f in complex_ if f.figure > COMPLEXITY_LIMIT],
        "functions_over_60_lines": [str(found) for found in long_functions()],
        "files_over_600_lines": [str(found) for found in big_files()],
        "classes_in_route_modules": route_classes(),
        "schemas_modules_in_api": [
            shown(path)
            for path in python_files(PLATFORM / "api")
            if path.name.endswith("_schemas.py")
        ],
        "cast_store_uses": sum(lines_holding(path, "cast(Store") for path in python_files()),
        "store_public_methods": public_methods,
        "store_mixins": mixins,
    }


def report(found: dict[str, Any]) -> str:
    """The figures as lines of text, the named ones listed below their count."""
    share = 100 * found["platform_lines"] / found["python_lines"]
    lines = [
        f"Python lines: {found['python_lines']:,}, the platform {found['platform_lines']:,} "
        f"({share:.0f} %)",
        f"functions over complexity {MOST_COMPLEX}: {len(found['complexity_over_10'])} "
        f"({found['complexity_over_10_in_platform']} in the platform)",
    ]
    named = {
        f"functions over complexity {COMPLEXITY_LIMIT}": "complexity_over_15",
        f"functions over {LINES_LIMIT} lines (outside migrations)": "functions_over_60_lines",
        f"files over {FILE_LIMIT} lines": "files_over_600_lines",
        "classes declared in route modules": "classes_in_route_modules",
        "*_schemas.py modules in api/": "schemas_modules_in_api",
    }
    for title, key in named.items():
        lines.append(f"{title}: {len(found[key])}")
        lines.extend(f"    {item}" for item in found[key])
    lines.append(f"`cast(Store` uses: {found['cast_store_uses']}")
    lines.append(
        f"Store: {found['store_public_methods']} public methods over {found['store_mixins']} "
        "mixins"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    arguments = parser.parse_args(argv)
    found = figures()
    print(report(found))
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
