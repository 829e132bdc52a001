"""The training code of the two tracking examples: a small PyTorch model forecasting Beijing's
temperature one hour ahead from the last 24 hours of temperature, dew point, pressure, wind
and precipitation (the real file ``weather/beijing_hourly_2010_2014.csv``).

It is a user's own code, written with PyTorch and the standard library alone. Only its split
follows the ``weather-forecaster`` pipeline's, so that its test MAE is measured on the very
hours the pipeline's ``metrics.MAE.model`` is: the first ``max_rows`` rows of the file, split
in time order 70 % / 10 % / 20 % (rounded as ``azuraforge.learn.timeseries.chronological_split``
rounds), a window labelled by the hour it forecasts and kept in the part of that hour. The
persistence baseline (the last hour's temperature) is scored on those hours too: it equals
the pipeline run's ``metrics.MAE.persistence``, which shows that the hours are the same.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

FILE = Path("weather") / "beijing_hourly_2010_2014.csv"
WINDOW = 24  # hours a forecast reads (the pipeline's sequence_length)
TRAIN, VAL = 0.7, 0.1  # the pipeline's train_fraction and val_fraction


def arguments(description: str) -> argparse.ArgumentParser:
    """The settings both examples take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--max-rows", type=int, default=8760, help="first rows of the file")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--name", default=None, help="the run's name")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=0.0,
        help="least seconds a training step lasts (a heavier model's pace: the walkthrough "
        "stretches this small model's run across a server outage)",
    )
    parser.add_argument("--record", type=Path, default=None, help="a file of what was logged")
    return parser


def data_file() -> Path:
    """The Beijing file in the data mirror (``AZURAFORGE_DATA_MIRROR``, folders separated as
    in ``PATH``), or in the current folder."""
    for folder in filter(None, os.environ.get("AZURAFORGE_DATA_MIRROR", "").split(os.pathsep)):
        if (Path(folder) / FILE).is_file():
            return Path(folder) / FILE
    return FILE


@dataclass
class Part:
    """Windows ``x`` (n, WINDOW * columns), the scaled change to forecast ``y`` (n,), and
    each window's last known temperature and the true one, in °C."""

    x: torch.Tensor
    y: torch.Tensor
    last: torch.Tensor
    actual: torch.Tensor


@dataclass
class Data:
    train: Part
    val: Part
    test: Part
    change_scale: float
    test_hours: tuple[str, str]  # the first and last hour scored


def load(max_rows: int) -> Data:
    """The first ``max_rows`` hours, scaled with the training part's statistics, as windows
    of each part."""
    with open(data_file(), newline="") as file:
        rows = list(csv.DictReader(file))[:max_rows]
    columns = [
        [float(r["TEMP"]), float(r["DEWP"]), float(r["PRES"]), math.log1p(float(r["Iws"])),
         float(r["Is"]), float(r["Ir"])]
        for r in rows
    ]  # fmt: skip
    values = torch.tensor(columns, dtype=torch.float64)
    hours = [
        f"{r['year']}-{int(r['month']):02d}-{int(r['day']):02d} {int(r['hour']):02d}:00"
        for r in rows
    ]
    n = len(rows)
    end_train, end_val = round(n * TRAIN), round(n * (TRAIN + VAL))
    mean, std = values[:end_train].mean(0), values[:end_train].std(0)
    std[std == 0] = 1.0  # a column constant in training (no snow yet) is left unscaled
    scaled = ((values - mean) / std).float()
    temperature = values[:, 0]
    change = temperature[1:] - temperature[:-1]
    change_scale = float(change[: end_train - 1].std())

    def part(first: int, stop: int) -> Part:
        labels = torch.arange(max(first, WINDOW), stop)  # the hour each window forecasts
        x = torch.stack([scaled[t - WINDOW : t].reshape(-1) for t in labels.tolist()])
        last, actual = temperature[labels - 1], temperature[labels]
        return Part(x, ((actual - last) / change_scale).float(), last, actual)

    test = (hours[max(end_val, WINDOW)], hours[n - 1])
    return Data(part(0, end_train), part(end_train, end_val), part(end_val, n), change_scale, test)


def model(inputs: int, hidden: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
    )


def train_epoch(
    net: torch.nn.Module, optimizer: torch.optim.Optimizer, data: Part, batch: int, pace: float
) -> Iterator[float]:
    """Train one epoch over shuffled batches, yielding each batch's loss (MSE of the scaled
    change); each step lasts at least ``pace`` seconds."""
    net.train()
    order = torch.randperm(len(data.y))
    for start in range(0, len(order), batch):
        began = time.perf_counter()
        chosen = order[start : start + batch]
        loss = torch.nn.functional.mse_loss(net(data.x[chosen])[:, 0], data.y[chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        yield loss.item()
        time.sleep(max(0.0, pace - (time.perf_counter() - began)))


@torch.no_grad()
def evaluate(net: torch.nn.Module, data: Part, change_scale: float) -> dict[str, float]:
    """The part's loss (scaled, as training's) and MAE of the temperature in °C, with the
    persistence baseline's MAE."""
    net.eval()
    predicted = net(data.x)[:, 0]
    forecast = data.last + predicted.double() * change_scale
    return {
        "loss": float(torch.nn.functional.mse_loss(predicted, data.y)),
        "MAE": float((forecast - data.actual).abs().mean()),
        "MAE_persistence": float((data.last - data.actual).abs().mean()),
    }


class Record:
    """What a script logged, for the walkthrough to check against what the server kept: one
    JSON line a logging call, with its start and end (``time.time()``), its step and the
    metric names it carried. Writes nothing without a file."""

    def __init__(self, path: Path | None) -> None:
        self._file = open(path, "w", buffering=1) if path else None  # noqa: SIM115

    def call(self, step: int, keys: list[str], began: float) -> None:
        if self._file:
            line = {"began": began, "ended": time.time(), "step": step, "keys": keys}
            self._file.write(json.dumps(line) + "\n")

    def note(self, **fields: object) -> None:
        if self._file:
            self._file.write(json.dumps(fields) + "\n")
