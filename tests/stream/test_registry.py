"""Sources found through the entry-point group azuraforge.sources: the built-ins, a source of
another distribution, broken and clashing ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.errors import NotFoundError, PluginError
from azuraforge.stream import CsvReplay
from azuraforge.stream.polling import HttpPoller
from azuraforge.stream.registry import GROUP, discover, get_source
from azuraforge.stream.tail import FileTail
from tests.helpers import write_pipeline_plugin

SOURCE = """
from azuraforge.stream import Event, Source, SourceReport


class Ticks(Source):
    '''Three events, one a second.'''

    def __iter__(self):
        return iter([Event(float(t), {"tick": float(t)}) for t in range(3)])

    @property
    def report(self):
        return SourceReport(rows=3, events=3)


class NotASource:
    pass
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install distribution ``ticks`` 0.1 declaring the given sources."""

    def install(entry_points: dict[str, str], root: Path = tmp_path) -> None:
        write_pipeline_plugin(root, "ticks", SOURCE, entry_points, group=GROUP)
        monkeypatch.syspath_prepend(str(root))

    return install


def test_the_built_in_sources_are_declared_as_plugins():
    found = discover()
    built_in = {"csv-replay": CsvReplay, "file-tail": FileTail, "http-poller": HttpPoller}
    assert {name: found[name].loaded for name in built_in} == built_in
    assert found["file-tail"].distribution.startswith("azuraforge ")
    assert get_source("csv-replay") is CsvReplay


def test_a_source_from_another_distribution_is_found_and_runs(installed):
    installed({"ticks": "ticks:Ticks"})
    plugin = discover()["ticks"]
    assert (plugin.distribution, plugin.error) == ("ticks 0.1", "")
    assert [event.values["tick"] for event in get_source("ticks")()] == [0, 1, 2]


def test_a_broken_source_is_reported_not_raised(installed):
    installed({"missing": "ticks.nowhere:Ticks", "odd": "ticks:NotASource"})
    with pytest.warns(UserWarning, match="source 'missing' failed to load"):
        plugins = discover()
    assert plugins["missing"].error.startswith("import failed: ModuleNotFoundError")
    assert plugins["odd"].error == "ticks:NotASource is not a Source subclass"
    assert plugins["csv-replay"].loaded is CsvReplay  # the others still load
    with pytest.raises(PluginError, match=r"source 'odd' cannot be used.*reinstall ticks 0\.1"):
        get_source("odd")


def test_an_unknown_name_lists_the_sources_installed():
    with pytest.raises(
        NotFoundError, match="no source named 'file-tial'; installed: csv-replay, file-tail"
    ):
        get_source("file-tial")


def test_two_distributions_declaring_one_name_is_an_error(installed, tmp_path: Path):
    installed({"ticks": "ticks:Ticks"})
    other = tmp_path / "other-0.2.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: other\nVersion: 0.2\n")
    (other / "entry_points.txt").write_text(f"[{GROUP}]\nticks = other:Ticks\n")
    with pytest.raises(PluginError, match="two sources are named 'ticks': ticks:Ticks from"):
        discover()
    with pytest.raises(PluginError, match=r"and other:Ticks from other 0\.2; uninstall one"):
        get_source("ticks")
