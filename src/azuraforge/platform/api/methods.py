"""The methods each path of the API answers: the ``Allow`` header of a 405.

Starlette's 405 names the methods of the first route whose path matches, and FastAPI makes
one route per method: ``PATCH /experiments/1`` was told ``Allow: GET`` although ``DELETE``
answers there too. RFC 9110 asks for every method the resource supports.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import compile_path


class AllowedMethods:
    """The API's routes as (path pattern, methods), added router by router."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], frozenset[str]]] = []

    def add(self, prefix: str, router: APIRouter) -> None:
        """Record the routes of ``router`` as included under ``prefix``."""
        for route in router.routes:
            if isinstance(route, APIRoute):
                pattern = compile_path(prefix + route.path)[0]
                self._routes.append((pattern, frozenset(route.methods or ())))

    def at(self, path: str) -> set[str]:
        """The methods some route answers at ``path``."""
        return {m for pattern, methods in self._routes if pattern.match(path) for m in methods}
