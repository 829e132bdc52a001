"""Observability's cost on a job: the round trip of a trivial run (``POST
/api/v1/experiments`` until a WebSocket client sees its ``end``) on three ``azuraforge serve
--workers 1`` started here side by side, each on a fresh SQLite store, asked in turns:

- **before**: the commit before the metrics and traces (``--baseline``, default
  :data:`BASELINE`: its ``src`` exported by ``git archive`` and put first on ``PYTHONPATH``,
  the same interpreter and packages);
- **metrics**: this checkout, its Prometheus metrics counted (they are always on), ``/metrics``
  scraped every :data:`SCRAPE_S` seconds by this script as Prometheus would;
- **traced**: this checkout with tracing on (``OTEL_TRACES_EXPORTER=otlp``) to an OTLP/HTTP
  sink started here (``benchmarks/serving.py --otlp-sink``), which reads and drops the spans.

The runs are ``benchmarks/platform_live.py``'s ticker plugin with one point; its round-trip
code (warm-up, the targets taking turns, each after the worker's poll interval plus a random
share, every run checked ``completed`` with its point) is reused as it is. Medians and p95
over the timed round trips, the ratio of each to *before*. Speed never fails the run.

Usage::

    .venv/bin/python benchmarks/observability.py [--quick] [--round-trips N]
        [--baseline COMMIT] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    exported_source,
    free_port,
    write_outputs,
)
from platform_live import (
    LEAKED,
    ProcessGroups,
    child_environment,
    run_round_trips,
    serve,
    settings_defaults,
    write_plugin,
)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "14f6eef"
"""The last commit before the metrics (issue 53)."""
SCRAPE_S = 5.0
SIZES = {"full": {"round_trips": 60, "warmup": 3}, "quick": {"round_trips": 3, "warmup": 1}}
PAUSE_MARGIN_S = 0.1
START, END = "<!-- observability:start -->", "<!-- observability:end -->"
TITLES = {
    "before": "before the metrics and traces (the baseline commit)",
    "metrics": "metrics on (this checkout; /metrics scraped every 5 s)",
    "traced": "metrics on and tracing to an OTLP/HTTP sink",
}


def scraping(url: str, stop: threading.Event) -> None:
    """Read ``url`` every :data:`SCRAPE_S` seconds until ``stop`` (from this machine: no
    token needed)."""
    import httpx

    while not stop.wait(SCRAPE_S):
        httpx.get(url, timeout=30).raise_for_status()


def measure(size: dict[str, Any], baseline: str, work: Path) -> dict[str, Any]:
    """Start the three serves and the sink, take the round trips, stop everything."""
    plugin = write_plugin(work / "plugin")
    with ExitStack() as stack:
        groups = stack.enter_context(ProcessGroups())
        envs = {
            name: child_environment(plugin, work / f"home-{name}",
                                    database_url=f"sqlite:///{work / f'home-{name}' / 'af.db'}")
            for name in TITLES
        }  # fmt: skip
        source = exported_source(baseline, work)
        envs["before"]["PYTHONPATH"] = os.pathsep.join([str(source), envs["before"]["PYTHONPATH"]])
        sink = free_port()
        command = [sys.executable, str(ROOT / "benchmarks" / "serving.py"), "--otlp-sink",
                   str(sink)]  # fmt: skip
        groups.start(command, {**envs["traced"], "SINK_COUNT": str(work / "sink-count")},
                     work / "sink.log")  # fmt: skip
        envs["traced"].update(OTEL_TRACES_EXPORTER="otlp",
                              OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink}")  # fmt: skip
        apis = {name: serve(groups, name, env, work, workers=1) for name, env in envs.items()}
        for api in apis.values():
            stack.callback(api.http.close)
        stop = threading.Event()
        scrapers = [threading.Thread(target=scraping, args=(f"{apis[n].base}/metrics", stop),
                                     daemon=True) for n in ("metrics", "traced")]  # fmt: skip
        for scraper in scrapers:
            scraper.start()
        stack.callback(stop.set)
        poll = settings_defaults()["poll_interval"]
        found = run_round_trips(apis, None, size["round_trips"], size["warmup"],
                                poll + PAUSE_MARGIN_S, poll)  # fmt: skip
    count = work / "sink-count"
    found["sink_exports"] = int(count.read_text()) if count.exists() else 0
    before = found["stats"]["before"]["median_ms"]
    for stats in found["stats"].values():
        stats["ratio_to_before"] = stats["median_ms"] / before
    return found


def table(found: dict[str, Any]) -> str:
    rows = ["| target | median ms | p95 ms | / before |", "|---|---|---|---|"]
    for name, stats in found["stats"].items():
        rows.append(f"| {TITLES[name]} | {stats['median_ms']:.1f} | {stats['p95_ms']:.1f} | "
                    f"{stats['ratio_to_before']:.3f}x |")  # fmt: skip
    return "\n".join(rows)


def section(report: dict[str, Any]) -> str:
    found, cfg = report["result"], report["config"]
    stats = found["stats"]
    return "\n".join([
        START,
        "## Observability: a job's round trip with metrics and traces",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        table(found),
        "",
        f"A trivial run's round trip (POST until the WebSocket client sees its end), "
        f"{cfg['round_trips']} timed after {cfg['warmup']} warm-up on each of three `azuraforge "
        f"serve --workers 1` taking turns, each on its own SQLite store: commit "
        f"`{cfg['baseline']}` (before the metrics), this checkout with its metrics (`/metrics` "
        f"read every {SCRAPE_S:g} s), and this checkout tracing over OTLP/HTTP to a sink "
        f"({found['sink_exports']:,} exports received). Metrics cost "
        f"**{stats['metrics']['ratio_to_before'] - 1:+.1%}** of the median round trip, tracing "
        f"**{stats['traced']['ratio_to_before'] - 1:+.1%}** (both against the baseline).",
        "",
        environment_block(report["environment"]),
        END,
    ])  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 round trips each")
    parser.add_argument("--round-trips", type=int, help="timed round trips per target")
    parser.add_argument("--baseline", default=BASELINE, help=f"default {BASELINE}")
    parser.add_argument("--out", type=Path, help="Markdown to update (full: docs/benchmarks.md)")
    parser.add_argument("--json", type=Path, help="where the numbers go")
    args = parser.parse_args(argv)
    if args.round_trips is not None and args.round_trips <= 0:
        parser.error("--round-trips must be positive")
    if not args.quick:
        args.out = args.out or ROOT / "docs" / "benchmarks.md"
        args.json = args.json or ROOT / "benchmarks" / "results" / "observability.json"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    size = dict(SIZES["quick" if args.quick else "full"])
    if args.round_trips:
        size["round_trips"] = args.round_trips
    load_before, ticks = os.getloadavg(), cpu_ticks()
    with tempfile.TemporaryDirectory(prefix="af-bench-observability-") as folder:
        found = measure(size, args.baseline, Path(folder))
    if LEAKED:
        sys.exit("process groups still alive after being stopped: " + "; ".join(LEAKED))
    packages = ("azuraforge", "fastapi", "uvicorn", "SQLAlchemy", "prometheus-client",
                "opentelemetry-sdk")  # fmt: skip
    report = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {
            "quick": args.quick,
            **size,
            "baseline": args.baseline,
            "scrape_s": SCRAPE_S,
        },
        "environment": environment(load_before, ticks, None, packages),
        "result": found,
    }
    print(table(found))
    write_outputs(report, section(report), (START, END), args.out, args.json)


if __name__ == "__main__":
    main()
