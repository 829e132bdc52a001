"""The dashboard's crowded pages timed in the browser: 100,000 runs and a study of 10,000 trials.

Runs the two browser tests of the crowded stores at full scale (``pytest --full-scale``:
``tests/e2e/test_experiments.py`` over 100,000 finished runs, ``tests/e2e/test_studies.py``
over a finished study of 10,000 trials), ``--repeats`` times, each in a fresh pytest process
with a fresh ``azuraforge serve`` (SQLite, one API process) and headless Chromium. Each test
checks its pages first (rows, totals, sort order), then writes the milliseconds from the
navigation or the click until the page marked what it drew (``performance.mark``); a test
that fails stops the benchmark. The median and range of each step go to the "Dashboard pages"
section of docs/benchmarks.md and to ``--json``.

In CI the same tests run at a small size (10,100 runs, 1,500 trials) and time nothing. There
is no peer in the browser here; the API call underneath against MLflow's ``search_runs`` is
``benchmarks/platform_vs_mlflow.py``.

Usage::

    .venv/bin/python benchmarks/dashboard_pages.py [--repeats N] [--out PATH] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, cpu_ticks, environment, environment_block, write_outputs

START, END = "<!-- dashboard_pages:start -->", "<!-- dashboard_pages:end -->"
PAGES = {
    "experiments page, 100,000 runs": (
        "tests/e2e/test_experiments.py::test_a_crowded_store_pages_sorts_and_filters",
        "experiments-timings.json",
    ),
    "study page, 10,000 trials": (
        "tests/e2e/test_studies.py::test_a_crowded_study_pages_sorts_and_filters",
        "studies-timings.json",
    ),
}


def one_round(folder: Path) -> dict[str, dict[str, float]]:
    """Both tests at full scale in one pytest process; the timings each wrote, by page."""
    env = {**os.environ, "AZURAFORGE_SCREENSHOTS": str(folder)}
    tests = [test for test, _ in PAGES.values()]
    command = [sys.executable, "-m", "pytest", "--full-scale", "-q", "-p", "no:cacheprovider",
               "--no-header", *tests]  # fmt: skip
    if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
        sys.exit("a crowded page failed its checks: no timings written")
    return {page: json.loads((folder / name).read_text()) for page, (_, name) in PAGES.items()}


def summary(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Median, minimum and maximum milliseconds of each step of each page."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for page in PAGES:
        steps = rounds[0][page]
        result[page] = {
            step: {
                "median": statistics.median(r[page][step] for r in rounds),
                "min": min(r[page][step] for r in rounds),
                "max": max(r[page][step] for r in rounds),
            }
            for step in steps
        }
    return result


def markdown(figures: dict[str, dict[str, dict[str, float]]], rounds: int, env: dict) -> str:
    lines = [START, "## Dashboard pages in the browser", "",
             f"`.venv/bin/python benchmarks/dashboard_pages.py --repeats {rounds}`: milliseconds "
             "from the navigation (or the click) until the page marked what it drew, headless "
             "Chromium with WebGL on the CPU, one API process on SQLite; median and range of "
             f"{rounds} rounds, each a fresh server and browser.", ""]  # fmt: skip
    for page, steps in figures.items():
        lines += [f"| {page} | median ms | range ms |", "| --- | ---: | ---: |"]
        lines += [f"| {step} | {v['median']:.0f} | {v['min']:.0f}–{v['max']:.0f} |"
                  for step, v in steps.items()]  # fmt: skip
        lines.append("")
    return "\n".join([*lines, environment_block(env), END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks/results/dashboard_pages.json"
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    load, ticks = os.getloadavg(), cpu_ticks()
    rounds = []
    for number in range(1, args.repeats + 1):
        with tempfile.TemporaryDirectory(prefix="dashboard-pages-") as folder:
            started = time.monotonic()
            rounds.append(one_round(Path(folder)))
            print(f"round {number}: {time.monotonic() - started:.0f} s", flush=True)
    figures = summary(rounds)
    env = environment(load, ticks, None, ["playwright", "fastapi", "SQLAlchemy"])
    report = {"rounds": args.repeats, "milliseconds": figures, "each_round": rounds, "env": env}
    text = markdown(figures, args.repeats, env)
    print(text)
    write_outputs(report, text, (START, END), args.out, args.json)


if __name__ == "__main__":
    main()
