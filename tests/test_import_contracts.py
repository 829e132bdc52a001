"""The import contracts of ``pyproject.toml`` (``make layers`` runs them all) stay as tight as
issue 66 made them: the dashboard sits at the bottom of the platform's layers, so an import
from it into the platform breaks them, and every package of the library is barred from the
test kit. Each check builds the import graph once (grimp, about a second) and adds a probe
import to it: the contract must see the probe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

import azuraforge

PACKAGE = Path(azuraforge.__file__).parent
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"


def contract_options(name: str) -> dict[str, Any]:
    """The options of the contract called ``name`` in ``pyproject.toml``."""
    contracts = read_configuration(str(PYPROJECT))["contracts_options"]
    found = next(c for c in contracts if c["name"] == name)
    return {key: value for key, value in found.items() if key not in ("name", "type")}


@contextmanager
def probe(graph: grimp.ImportGraph, importer: str, imported: str) -> Iterator[None]:
    """``graph`` with ``importer`` importing ``imported`` while in the block."""
    assert not graph.direct_import_exists(importer=importer, imported=imported)
    graph.add_import(importer=importer, imported=imported)
    try:
        yield
    finally:
        graph.remove_import(importer=importer, imported=imported)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("azuraforge", cache_dir=None)


def test_an_import_from_the_dashboard_into_the_platform_breaks_the_platform_s_layers(
    graph: grimp.ImportGraph,
) -> None:
    name = "The platform, one direction"
    contract = LayersContract(name, {"root_packages": ["azuraforge"]}, contract_options(name))
    assert contract.check(graph, verbose=False).kept
    with probe(graph, "azuraforge.platform.dashboard", "azuraforge.platform.services"):
        assert not contract.check(graph, verbose=False).kept


def test_every_package_of_the_library_is_barred_from_the_test_kit(
    graph: grimp.ImportGraph,
) -> None:
    name = "The library never imports its test kit"
    options = contract_options(name)
    packages = {
        f"azuraforge.{path.parent.name}"
        for path in PACKAGE.glob("*/__init__.py")
        if path.parent.name != "testing"
    }
    assert packages <= set(options["source_modules"])
    contract = ForbiddenContract(name, {"root_packages": ["azuraforge"]}, options)
    assert contract.check(graph, verbose=False).kept
    for package in sorted(packages):
        with probe(graph, package, "azuraforge.testing"):
            assert not contract.check(graph, verbose=False).kept, package
