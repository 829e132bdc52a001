"""The forecaster on public series it was never developed against, beside every baseline.

Issue 33 (point 3b) asks that, on any series, the forecaster's test MAE be no worse than the
best naive baseline's beyond noise. The series here come from the data folders of three PyPI
packages (monthly, weekly, daily and hourly; short and long), downloaded once:

    pip download --no-deps pmdarima==2.1.1 statsmodels==0.15.0 sktime==1.2.0 -d /tmp/wheels
    .venv/bin/python benchmarks/public_series.py --wheels /tmp/wheels [--only airline]

Each series is written as the CSV a user would make of it (one ISO time column), run through
the ``forecaster`` pipeline with its default settings (``missing=fill`` where the series has
blanks), and its test MAE printed beside every baseline's, with the forecast the validation
part chose. The table goes to ``docs/results.md``; the runs' reports stay under ``--out``.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import io
import json
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from azuraforge.apps.forecaster import CsvForecaster
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact

WHEELS = {
    "pmdarima": "pmdarima-2.1.1-*.whl",
    "statsmodels": "statsmodels-0.15.0-*.whl",
    "sktime": "sktime-1.2.0-*.whl",
}


@dataclass(frozen=True)
class PublicSeries:
    """A public series: where it comes from and how the forecaster reads it."""

    name: str
    source: str
    rows: Callable[[dict[str, zipfile.ZipFile]], list[tuple[str, str]]]
    settings: dict[str, object]


def _member(wheels: dict[str, zipfile.ZipFile], package: str, path: str) -> bytes:
    return wheels[package].read(path)


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def _python_array(wheels: dict[str, zipfile.ZipFile], path: str) -> list[float]:
    """The values of the ``rslt = np.array([...])`` literal in a pmdarima dataset module."""
    tree = ast.parse(_member(wheels, "pmdarima", path).decode("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "rslt":
            literal = next(n for n in ast.walk(node.value) if isinstance(n, ast.List))
            return [float(v) for v in ast.literal_eval(literal)]
    raise ValueError(f"no data array in {path}")


def _months(start: str, count: int) -> list[str]:
    return [str(m) for m in np.datetime64(start, "M") + np.arange(count)]


def airline(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    rows = _csv_rows(_member(wheels, "sktime", "sktime/datasets/data/Airline/Airline.csv"))
    return [(r[0], r[1]) for r in rows[1:]]


def seatbelts(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    path = "sktime/datasets/data/seatbelts/seatbelts.csv"
    return [(r[0], r[1]) for r in _csv_rows(_member(wheels, "sktime", path))[1:]]


def wineind(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    values = _python_array(wheels, "pmdarima/datasets/wineind.py")
    return list(zip(_months("1980-01", len(values)), (f"{v:g}" for v in values), strict=True))


def sunspots(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    text = gzip.decompress(_member(wheels, "pmdarima", "pmdarima/datasets/data/sunspots.txt.gz"))
    values = text.decode("ascii").split()
    return list(zip(_months("1749-01", len(values)), values, strict=True))


def co2(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    rows = _csv_rows(_member(wheels, "statsmodels", "statsmodels/datasets/co2/co2.csv"))
    return [(f"{d[:4]}-{d[4:6]}-{d[6:]}", value) for d, value in rows[1:]]


def daily_2019(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    packed = _member(wheels, "pmdarima", "pmdarima/datasets/data/dated.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
        member = archive.extractfile("dated.csv")
        assert member is not None
        rows = _csv_rows(member.read())
    return [(r[1], r[0]) for r in rows[1:]]


def taylor(wheels: dict[str, zipfile.ZipFile]) -> list[tuple[str, str]]:
    """Half-hourly demand summed to hours (the forecaster's finest frequency is hourly)."""
    halves = np.array(_python_array(wheels, "pmdarima/datasets/taylor.py"))
    hours = halves.reshape(-1, 2).sum(axis=1)
    start = np.datetime64("2000-06-05T00", "h")
    times = [str(start + i).replace("T", " ") + ":00:00" for i in range(len(hours))]
    return list(zip(times, (f"{v:g}" for v in hours), strict=True))


SERIES = [
    PublicSeries("airline", "sktime Airline: airline passengers, 1949-1960", airline, {}),
    PublicSeries("wineind", "pmdarima wineind: Australian wine sales, 1980-1994", wineind, {}),
    PublicSeries("seatbelts", "sktime seatbelts: UK drivers KSI, 1969-1984", seatbelts, {}),
    PublicSeries("sunspots", "pmdarima sunspots: sunspot numbers, 1749-1983", sunspots, {}),
    PublicSeries(
        "co2", "statsmodels co2: Mauna Loa CO2, 1958-2001, with blanks", co2, {"missing": "fill"}
    ),
    PublicSeries("daily-2019", "pmdarima dated: a daily series of 2019", daily_2019, {}),
    PublicSeries(
        "taylor-hourly", "pmdarima taylor: England and Wales demand, summer 2000", taylor, {}
    ),
]


def write_series(series: PublicSeries, wheels: dict[str, zipfile.ZipFile], folder: Path) -> Path:
    """The series as a user's CSV: ``time,value``."""
    path = folder / f"{series.name}.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time", "value"])
        writer.writerows(series.rows(wheels))
    return path


def run(series: PublicSeries, path: Path, folder: Path) -> dict[str, object]:
    """One forecaster run with default settings, its test MAE beside each baseline's, and
    the MAE of the same run blended with drift only (``blend_with=drift``: what the
    forecaster did before it chose among naive forecasts)."""
    pipeline = CsvForecaster()
    settings = {"csv": str(path), "time_column": "time", "target": "value", **series.settings}
    started = time.perf_counter()
    result = pipeline.run(pipeline.make_config(settings), LocalContext(output_dir=folder))
    seconds = round(time.perf_counter() - started, 1)
    drift_only = pipeline.run(
        pipeline.make_config({**settings, "blend_with": "drift"}),
        LocalContext(output_dir=folder / "drift-only"),
    )
    artifact = ModelArtifact.load(result.artifact_dir)
    mae = result.metrics["MAE"]
    best = min((name for name in mae if name != "model"), key=mae.__getitem__)
    return {
        "series": series.name,
        "source": series.source,
        "rows": sum(1 for _ in path.open()) - 1,
        "frequency": artifact.config["frequency"],
        "mae": mae,
        "best_baseline": best,
        "ratio_to_best": mae["model"] / mae[best],
        "chosen": artifact.selection.get("forecast", "set by the user"),
        "drift_only_mae": drift_only.metrics["MAE"]["model"],
        "seconds": seconds,
    }


def table(results: list[dict[str, object]]) -> str:
    """Markdown: one row per series, the model's MAE, the ratio to the best baseline, then
    every baseline's MAE."""
    lines = [
        "| series | frequency, rows | chosen on validation | model MAE | / best baseline "
        "| blended with drift only (before) | baselines' MAE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mae = r["mae"]
        assert isinstance(mae, dict)
        others = "; ".join(f"{k} {v:.4g}" for k, v in mae.items() if k != "model")
        lines.append(
            f"| {r['series']} | {r['frequency']}, {r['rows']} | {r['chosen']} | "
            f"{mae['model']:.4g} | {r['ratio_to_best']:.2f} ({r['best_baseline']}) | "
            f"{r['drift_only_mae']:.4g} ({r['drift_only_mae'] / mae[r['best_baseline']]:.2f}) | "
            f"{others} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="folder of the three wheels")
    parser.add_argument("--out", type=Path, default=Path("/tmp/public_series"))
    parser.add_argument("--only", nargs="*", help="series names to run (default: all)")
    args = parser.parse_args()
    wheels = {}
    for package, pattern in WHEELS.items():
        found = sorted(args.wheels.glob(pattern))
        if not found:
            print(f"no {pattern} in {args.wheels}; see this script's docstring", file=sys.stderr)
            return 1
        wheels[package] = zipfile.ZipFile(found[0])
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for series in SERIES:
        if args.only and series.name not in args.only:
            continue
        path = write_series(series, wheels, args.out)
        results.append(run(series, path, args.out / series.name))
        print(json.dumps(results[-1]), flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
