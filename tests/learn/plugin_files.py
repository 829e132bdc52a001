"""Plugin files the plugin folder's tests drop in a folder: the seed's weather plugin (a tiny
pipeline, a stream source and a job kind in one file) and a broken one."""

from __future__ import annotations

from pathlib import Path

WEATHER = '''
"""A weather plugin: a tiny forecaster of a synthetic temperature series."""
import math
from collections.abc import Iterator

from pydantic import Field

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.learn import TrainingSummary
from azuraforge.platform.jobs.kinds import JobKind
from azuraforge.stream.base import Event, Source, SourceReport


def temperatures(days):
    return [15.0 + 8.0 * math.sin(2 * math.pi * day / 365.0) for day in range(days)]


class WeatherConfig(PipelineConfig):
    days: int = Field(30, ge=3, le=3650, description="Days of temperatures.")
    window: int = Field(3, ge=1, description="Days the forecast averages.")


class TinyWeather(Pipeline[WeatherConfig]):
    name = "tiny-weather"
    description = "Tomorrow's temperature: the mean of the last days (a plugin file's)."
    Config = WeatherConfig

    def run(self, config, ctx):
        series = temperatures(config.days)
        errors, naive = [], []
        for day in range(config.window, len(series)):
            mean = sum(series[day - config.window:day]) / config.window
            errors.append(abs(series[day] - mean))
            naive.append(abs(series[day] - series[day - 1]))
        mae = sum(errors) / len(errors)
        ctx.log_metrics({"val_loss": mae}, step=1)
        return RunResult(
            metrics={"MAE": {"model": mae, "persistence": sum(naive) / len(naive)}},
            training=TrainingSummary("completed", 1, 1),
        )


class WeatherFeed(Source):
    def __init__(self, days: int = 5) -> None:
        self.days = days

    def __iter__(self) -> Iterator[Event]:
        for day, value in enumerate(temperatures(self.days)):
            yield Event(time=86400.0 * day, values={"temperature": value})

    @property
    def report(self) -> SourceReport:
        return SourceReport()


class Forecast(JobKind):
    name = "forecast-weather"

    def run(self, store, record, settings, ctx):
        return "completed", {"tomorrow": temperatures(2)[1]}


azuraforge_plugins = {
    "azuraforge.pipelines": {"tiny-weather": TinyWeather},
    "azuraforge.sources": {"weather-feed": WeatherFeed},
    "azuraforge.job_kinds": {"forecast-weather": Forecast},
}
'''

BROKEN = "import azuraforge_no_such_module\n"


def weather_folder(folder: Path, *, broken: bool = True) -> Path:
    """``folder`` (made) holding ``weather.py`` and, if ``broken``, ``broken.py``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weather.py").write_text(WEATHER)
    if broken:
        (folder / "broken.py").write_text(BROKEN)
    return folder
