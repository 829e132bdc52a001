"""A stream whose source is an installed package's (an ``azuraforge.sources`` entry point):
only one the server's ``stream_sources`` allow, never a built-in one (those keep their own
checks), its options refused at the start when its constructor refuses them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.services.validation import ConfigError
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.helpers import write_pipeline_plugin
from tests.platform.fixtures import install_plugin

WAVE = """
import math

from azuraforge.stream.base import Event, Source, SourceReport


class Wave(Source):
    '''A price swinging around 100, one event an hour: a feed a package could ship.'''

    def __init__(self, events: int, period: float = 24.0, down: bool = False) -> None:
        if down:
            raise RuntimeError("the feed is down")
        if events < 1:
            raise ValueError(f"events must be at least 1, got {events}")
        self.events, self.period = events, period
        self._report = SourceReport()

    def __iter__(self):
        for i in range(self.events):
            price = 100 + 5 * math.sin(2 * math.pi * i / self.period) + (i % 7) / 10
            yield Event(3600.0 * i, {"close": price})

    @property
    def report(self) -> SourceReport:
        return self._report
"""


@pytest.fixture(scope="module")
def wave_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wave-dist")
    entries = {"wave": "wave_source:Wave", "my-replay": "azuraforge.stream.sources:CsvReplay"}
    return write_pipeline_plugin(root, "wave_source", WAVE, entries, group="azuraforge.sources")


@pytest.fixture
def allowing(settings: Settings, wave_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    install_plugin(monkeypatch, wave_path)
    allowed = ["wave", "csv-replay", "my-replay"]
    return settings.model_copy(update={"stream_sources": allowed})


def test_a_plugin_source_the_server_allows_runs_as_a_stream(
    store: Store, allowing: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"plugin": "wave", "plugin_options": {"events": 300}, "drift": None}
    parsed = counted_parses(monkeypatch)
    record = start_stream(store, LocalTransport(), allowing, config)
    assert parsed == ["model_validate_json"]  # once where it enters, then passed as a StreamConfig
    assert record.config["plugin_options"] == {"events": 300}
    Worker(allowing, store).run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert done.result is not None and done.result["scored"] == 300 - 25
    assert done.metrics["champion/accuracy"] > done.metrics["always up/accuracy"]  # it swings


def counted_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of StreamConfig's parsing methods, one per call from now on."""
    parsed: list[str] = []

    def counted(name: str) -> Any:
        parse = getattr(StreamConfig, name).__func__

        def count(cls: type[StreamConfig], *args: Any, **kwargs: Any) -> Any:
            parsed.append(name)
            return parse(cls, *args, **kwargs)

        return classmethod(count)

    for name in ("model_validate", "model_validate_json"):
        monkeypatch.setattr(StreamConfig, name, counted(name))
    return parsed


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"plugin": "csv-replay"}, "csv-replay is built in: give a source (and follow) or a url"),
        ({"plugin": "kafka"}, "'kafka' is not one of the server's stream_sources"),
        ({"plugin": "wave", "plugin_options": {"events": 0}}, "events must be at least 1"),
        ({"plugin": "wave", "plugin_options": {"speed": 3}}, "unexpected keyword argument"),
        ({"plugin": "wave"}, "missing 1 required positional argument: 'events'"),
        ({"plugin": "wave", "plugin_options": {"events": 9, "down": True}}, "the feed is down"),
        ({"plugin": "my-replay"}, "my-replay is a built-in source under another name"),
        ({"source": "btc-hourly", "plugin_options": {"events": 3}}, "name the plugin"),
    ],
)
def test_a_plugin_source_refused_says_why_and_nothing_is_stored(
    store: Store, allowing: Settings, config: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        start_stream(store, LocalTransport(), allowing, config)
    assert store.list_experiments().total == 0


def test_the_worker_checks_the_plugin_again(store: Store, allowing: Settings) -> None:
    config = {"plugin": "wave", "plugin_options": {"events": 50}, "max_restarts": 0}
    record = start_stream(store, LocalTransport(), allowing, config)
    Worker(allowing.model_copy(update={"stream_sources": []}), store).run_next()
    failed = store.get_experiment(record.id)
    assert failed.status == "failed"
    assert "'wave' is not one of the server's stream_sources (it sets none)" in str(failed.error)
