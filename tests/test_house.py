"""Small rooms (issue 66): no function of the package over cyclomatic complexity 15 as radon
counts it, and none over 60 lines outside the migrations, counted by ``benchmarks/house.py``
(``make house`` prints every figure of the house)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import azuraforge

HOUSE = Path(azuraforge.__file__).parents[2] / "benchmarks" / "house.py"


@functools.cache
def house() -> ModuleType:
    """``benchmarks/house.py`` (a script, outside the package) as a module."""
    spec = importlib.util.spec_from_file_location("house", HOUSE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["house"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_no_function_is_over_complexity_15() -> None:
    counted = house()
    found = counted.complexities(counted.COMPLEXITY_LIMIT)
    assert [str(f) for f in found] == []


def test_no_function_is_over_60_lines_outside_the_migrations() -> None:
    counted = house()
    found = counted.long_functions(counted.LINES_LIMIT)
    assert [str(f) for f in found] == []


def test_the_counters_see_a_complex_and_a_long_function(tmp_path: Path) -> None:
    counted = house()
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(16))
    steps = "".join(f"    x += {i}\n" for i in range(59))
    (tmp_path / "rooms.py").write_text(
        f"def tangled(x):\n{branches}    return -1\n\n\ndef long(x):\n{steps}    return x\n"
    )
    found = counted.complexities(counted.COMPLEXITY_LIMIT, under=tmp_path)
    assert [(f.figure, f.name) for f in found] == [(17, "tangled")]
    found = counted.long_functions(counted.LINES_LIMIT, under=tmp_path)
    assert [(f.figure, f.name) for f in found] == [(61, "long")]
