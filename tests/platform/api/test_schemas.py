"""The API's bodies live in ``api/schemas/``, one module per resource: no route module
declares a class, and every list that pages answers a :class:`Page`."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

from pydantic import BaseModel

from azuraforge.platform.api import routes, schemas
from azuraforge.platform.api.schemas.common import Page

PAGE_FIELDS = {"data", "total", "offset", "limit"}


def test_no_route_module_declares_a_class() -> None:
    folder = Path(routes.__file__).parent
    declared = [
        f"{path.relative_to(folder)}: {node.name}"
        for path in sorted(folder.rglob("*.py"))
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    ]
    assert declared == []


def test_every_list_that_pages_is_a_page() -> None:
    models = [
        model
        for module in pkgutil.iter_modules(schemas.__path__, f"{schemas.__name__}.")
        for _, model in inspect.getmembers(importlib.import_module(module.name), inspect.isclass)
        if issubclass(model, BaseModel) and model.__module__ == module.name
    ]
    paging = [model for model in models if set(model.model_fields) >= PAGE_FIELDS]
    assert len(paging) >= 11
    assert [model.__name__ for model in paging if not issubclass(model, Page)] == []
