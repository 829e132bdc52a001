"""Where ``make test`` spends its time: each step timed apart, pytest per folder and per fixture.

The steps are read from the Makefile itself (``make -n``), so this script times what
``make test`` runs, not a copy of it: lint, format check, mypy, lint-imports, every
``bench-quick`` script one by one, then pytest with ``--durations=0``, a JUnit XML file (time and
count of tests per folder) and the ``tests.fixture_times`` plugin (seconds of setup per fixture,
by name and scope, added over every pytest-xdist worker). ``--install`` first times
``pip install -e '.[dev]'`` into a fresh virtual environment with an empty pip cache (a machine
that has never built llama.cpp), which takes minutes.

The report (Markdown) goes to standard output and to ``--out`` (``build/suite-times.md``), with
the machine's load average beside it: these machines are shared, so compare medians of runs.

Usage::

    make test-times                        # or: .venv/bin/python benchmarks/suite_times.py
    .venv/bin/python benchmarks/suite_times.py --install --only install
    .venv/bin/python benchmarks/suite_times.py --only pytest --pytest-args tests/platform
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from harness import ROOT

STEPS = ("install", "lint", "typecheck", "layers", "bench-quick", "pytest")
FIXTURE_ROWS = 25


def make_commands(*arguments: str, installed: bool = True) -> list[str]:
    """The shell commands ``make ARGUMENTS`` would run, as ``make -n`` prints them; with
    ``installed``, the environment is taken as it is (``-o`` its marker file)."""
    keep = ["-o", ".venv/.installed-dev"] if installed else []
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", *keep, *arguments],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line for line in printed.splitlines() if line.strip() and not line.startswith("#")]


def timed(command: str, env: dict[str, str] | None = None) -> float:
    """Seconds that shell ``command`` took; exits if it fails."""
    started = time.perf_counter()
    finished = subprocess.run(command, shell=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"failed ({finished.returncode}) after {seconds:.0f} s: {command}")
    return seconds


def time_install() -> list[tuple[str, float]]:
    """The Makefile's commands that make ``.venv`` with the dev extra, each timed, run into a
    scratch folder with an empty pip cache (as on a new machine)."""
    with tempfile.TemporaryDirectory(prefix="suite-times-") as scratch:
        env = {**os.environ, "PIP_CACHE_DIR": f"{scratch}/pip-cache"}
        commands = make_commands("-B", ".venv/.installed-dev", installed=False)
        fresh = [c.replace(".venv", f"{scratch}/venv") for c in commands if "touch" not in c]
        return [(command, timed(command, env)) for command in fresh]


def time_commands(target: str) -> list[tuple[str, float]]:
    return [(command, timed(command)) for command in make_commands(target)]


def time_pytest(extra: Sequence[str], scratch: Path) -> tuple[float, Path, Path]:
    """Wall seconds of the Makefile's pytest command with timing options added; the JUnit
    file and the fixture-times prefix."""
    junit, fixtures = scratch / "junit.xml", scratch / "fixtures"
    (command,) = make_commands("pytest")
    options = ["-p", "tests.fixture_times", "--durations=0", f"--junitxml={junit}",
               "-o", "junit_duration_report=total", *extra]  # fmt: skip
    env = {**os.environ, "AZURAFORGE_FIXTURE_TIMES": str(fixtures)}
    return timed(f"{command} {shlex.join(options)}", env), junit, fixtures


def folder_of(classname: str) -> str:
    """The folder a JUnit classname belongs to, two levels below ``tests`` or ``src``:
    ``tests.platform.api.routes.test_x.TestY`` -> ``tests/platform/api``,
    ``src.azuraforge.core.ops`` (doctests) -> ``src/azuraforge/core (doctests)``."""
    parts = [part for part in classname.split(".") if not part.startswith(("test_", "Test"))]
    if parts[0] == "tests":
        return "/".join(parts[:3])
    return "/".join(parts[:3]) + " (doctests)"


def per_folder(junit: Path) -> dict[str, tuple[int, float]]:
    """Tests and summed seconds (setup + call + teardown) per folder."""
    counts: defaultdict[str, int] = defaultdict(int)
    seconds: defaultdict[str, float] = defaultdict(float)
    for case in ElementTree.parse(junit).iter("testcase"):
        folder = folder_of(case.get("classname") or "unknown")
        counts[folder] += 1
        seconds[folder] += float(case.get("time") or 0)
    return {folder: (counts[folder], seconds[folder]) for folder in counts}


def per_fixture(prefix: Path) -> dict[str, tuple[int, float]]:
    """Setups and seconds per fixture, added over the workers' files."""
    setups: defaultdict[str, int] = defaultdict(int)
    seconds: defaultdict[str, float] = defaultdict(float)
    for path in prefix.parent.glob(f"{prefix.name}.*.json"):
        for key, value in json.loads(path.read_text()).items():
            setups[key] += value["setups"]
            seconds[key] += value["seconds"]
    return {key: (setups[key], seconds[key]) for key in setups}


def table(header: str, rows: Sequence[tuple[str, str, str]]) -> list[str]:
    lines = [header, "|---|---:|---:|"]
    return lines + [f"| {a} | {b} | {c} |" for a, b, c in rows]


def pytest_section(wall: float, junit: Path, fixtures: Path) -> list[str]:
    folders = sorted(per_folder(junit).items(), key=lambda item: -item[1][1])
    total = sum(count for count, _ in dict(folders).values())
    lines = [f"pytest: {wall:.0f} s wall, {total} tests", ""]
    lines += table("| folder | tests | test seconds |",
                   [(f, str(n), f"{s:.1f}") for f, (n, s) in folders])  # fmt: skip
    ranked = sorted(per_fixture(fixtures).items(), key=lambda item: -item[1][1])
    lines += ["", f"The {FIXTURE_ROWS} fixtures that took longest to set up:", ""]
    lines += table("| fixture (scope) | setups | seconds |",
                   [(k, str(n), f"{s:.1f}") for k, (n, s) in ranked[:FIXTURE_ROWS]])  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="also time a fresh install")
    parser.add_argument("--only", choices=STEPS, action="append", help="time only these steps")
    parser.add_argument("--pytest-args", default="", help="added to pytest's command line")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "suite-times.md")
    args = parser.parse_args()
    os.environ.setdefault("AZURAFORGE_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))
    steps = args.only or [s for s in STEPS if s != "install" or args.install]
    lines = [f"# Suite times ({time.strftime('%Y-%m-%d %H:%M')}, load average "
             f"{os.getloadavg()[0]:.2f} at the start, {os.cpu_count()} cores)", ""]  # fmt: skip
    timings: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="suite-times-") as scratch:
        for step in steps:
            if step == "install":
                timings += time_install()
            elif step == "pytest":
                wall, junit, fixtures = time_pytest(shlex.split(args.pytest_args), Path(scratch))
                timings.append(("pytest (all of it, as make test runs it)", wall))
                pytest_lines = pytest_section(wall, junit, fixtures)
            else:
                timings += time_commands(step)
        lines += table("| step | | seconds |", [(f"`{c}`", "", f"{s:.1f}") for c, s in timings])
        lines += ["", f"Total: {sum(s for _, s in timings):.0f} s", ""]
        if "pytest" in steps:
            lines += pytest_lines
    report = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
