"""PluginGroup: the declarations read once per state of sys.path, checks of a loaded class."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.learn.plugins import PluginGroup
from tests.helpers import write_pipeline_plugin

GROUP = "azuraforge.testing-plugins"
SOURCE = """
class Base:
    pass


class Good(Base):
    name = "good"


class Renamed(Base):
    name = "other"
"""


def named_as_declared(entry, cls) -> str:
    return "" if cls.name == entry.name else f"calls itself {cls.name!r}"


def test_declarations_are_read_again_only_when_the_import_path_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    group = PluginGroup(GROUP, "widget", object)
    assert group.declared() == () and group.declared() is group.declared()  # read once
    write_pipeline_plugin(tmp_path, "widgets", SOURCE, {"good": "widgets:Good"}, group=GROUP)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [entry.name for entry in group.declared()] == ["good"]
    assert group.origin(group.declared()[0]) == "widgets 0.1"


def test_a_check_of_the_loaded_class_refuses_it_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    entry_points = {"good": "widgets:Good", "renamed": "widgets:Renamed"}
    write_pipeline_plugin(tmp_path, "widgets", SOURCE, entry_points, group=GROUP)
    monkeypatch.syspath_prepend(str(tmp_path))
    group = PluginGroup(GROUP, "widget", object, check=named_as_declared)
    found = group.discover()
    assert found["good"].loaded is not None and found["good"].loaded.__name__ == "Good"
    assert (found["renamed"].loaded, found["renamed"].error) == (None, "calls itself 'other'")
