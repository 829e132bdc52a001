"""A pytest plugin that adds up the seconds spent setting up each fixture, by name and scope.

``benchmarks/suite_times.py`` loads it (``-p tests.fixture_times``) and names the JSON file to
write with ``AZURAFORGE_FIXTURE_TIMES``; under pytest-xdist every worker writes its own file,
``<name>.<worker>.json``. Loaded without the variable it records nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

VARIABLE = "AZURAFORGE_FIXTURE_TIMES"
_SECONDS: defaultdict[str, float] = defaultdict(float)
_SETUPS: defaultdict[str, int] = defaultdict(int)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, None, None]:
    started = time.perf_counter()
    yield
    key = f"{fixturedef.argname} ({fixturedef.scope})"
    _SECONDS[key] += time.perf_counter() - started
    _SETUPS[key] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(VARIABLE)
    if not target:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = Path(f"{target}.{worker}.json")
    fixtures = {key: {"seconds": _SECONDS[key], "setups": _SETUPS[key]} for key in _SECONDS}
    path.write_text(json.dumps(fixtures, indent=1))
