"""The plugin folder: its files' declarations found by the same plugin groups as installed
distributions' entry points; a broken file a warning naming it; nothing read but the folder's
own ``*.py`` files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from azuraforge.apps import discover, get_pipeline
from azuraforge.errors import NotFoundError, PluginError
from azuraforge.learn.plugin_folder import load_folder, loaded_folder
from azuraforge.platform.jobs.kinds import get_kind, job_kinds
from azuraforge.stream.registry import get_source
from tests.learn.plugin_files import WEATHER, weather_folder


@pytest.fixture(autouse=True)
def no_folder_after() -> Iterator[None]:
    yield
    load_folder(None)


def test_a_weather_file_adds_a_pipeline_a_source_and_a_job_kind_and_a_broken_one_warns(
    tmp_path: Path,
) -> None:
    folder = weather_folder(tmp_path / "plugins")
    with pytest.warns(UserWarning, match=r"plugin file 'broken.py' was not loaded: import failed"):
        loaded = load_folder(folder)
    assert [(f.name, f.loaded) for f in loaded.files] == [
        ("broken.py", False),
        ("weather.py", True),
    ]
    assert "azuraforge_no_such_module" in loaded.files[0].error
    pipelines = discover()
    assert pipelines["tiny-weather"].distribution == "plugin folder: weather.py"
    assert pipelines["weather-forecaster"].pipeline is not None  # the installed ones stay
    assert get_pipeline("tiny-weather").description.startswith("Tomorrow's temperature")
    assert [e.values["temperature"] for e in get_source("weather-feed")(days=2)] == [
        15.0,
        pytest.approx(15.1377, abs=1e-4),
    ]
    assert (
        "forecast-weather" in job_kinds()
        and get_kind("forecast-weather").name == "forecast-weather"
    )


def test_the_listing_hashes_what_ran_and_the_digest_follows_the_files_that_loaded(
    tmp_path: Path,
) -> None:
    folder = weather_folder(tmp_path / "a", broken=False)
    first = load_folder(folder)
    assert first.files[0].sha256 == hashlib.sha256(WEATHER.encode()).hexdigest()
    assert first.files[0].declares == (
        "azuraforge.pipelines:tiny-weather", "azuraforge.sources:weather-feed",
        "azuraforge.job_kinds:forecast-weather",
    )  # fmt: skip
    assert load_folder(folder) is first  # once per process and folder
    same = load_folder(weather_folder(tmp_path / "b", broken=False))
    assert same.digest == first.digest  # the same files elsewhere: the same set
    (weather_folder(tmp_path / "c", broken=False) / "weather.py").write_text(WEATHER + "#\n")
    changed = load_folder(tmp_path / "c")
    assert changed.digest != first.digest  # one byte more: another set
    (tmp_path / "c" / "weather.py").write_text(WEATHER)
    assert load_folder(tmp_path / "c").digest == changed.digest  # loaded already: kept
    with pytest.warns(UserWarning, match="broken.py"):
        with_broken = load_folder(weather_folder(tmp_path / "d"))
    assert with_broken.digest == first.digest  # a file that failed runs no code
    assert load_folder(None).digest == hashlib.sha256(b"").hexdigest() != first.digest


def test_nothing_outside_the_folder_is_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    weather_folder(outside, broken=False)
    folder = tmp_path / "plugins"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "weather.py").write_text(WEATHER)  # a subfolder: not read
    (folder / "notes.txt").write_text(WEATHER)  # not *.py: not read
    (folder / "linked.py").symlink_to(outside / "weather.py")  # leads out: refused
    (folder / "not-a-module.py").write_text(WEATHER)  # no module name: refused
    with pytest.warns(UserWarning) as warned:
        loaded = load_folder(folder)
    assert sorted(str(w.message).split(":")[0] for w in warned) == [
        "plugin file 'linked.py' was not loaded", "plugin file 'not-a-module.py' was not loaded"
    ]  # fmt: skip
    assert [(f.name, f.loaded, f.sha256) for f in loaded.files] == [
        ("linked.py", False, ""), ("not-a-module.py", False, "")
    ]  # fmt: skip
    with pytest.raises(NotFoundError, match="no pipeline named 'tiny-weather'"):
        get_pipeline("tiny-weather")


def test_a_link_inside_the_folder_is_read(tmp_path: Path) -> None:
    folder = weather_folder(tmp_path / "plugins", broken=False)
    (folder / "weather.py").rename(folder / "real.py")
    (folder / "weather.py").symlink_to(folder / "real.py")
    loaded = load_folder(folder)
    assert [(f.name, f.loaded) for f in loaded.files] == [("real.py", True), ("weather.py", True)]
    with pytest.raises(PluginError, match="two pipelines are named 'tiny-weather'"):
        discover()  # two files declaring one name: an error naming both, as two packages


@pytest.mark.parametrize(
    ("declarations", "reason"),
    [
        ("azuraforge_plugins = ['x']", "must be a dict of groups"),
        ("azuraforge_plugins = {'azuraforge.pipelines': {'x': int}}", "defined at the file's top"),
        ("azuraforge_plugins = {'azuraforge.pipelines': ['x']}", "must be a dict of names"),
        ("raise SystemExit(3)", "SystemExit"),
    ],
)
def test_malformed_declarations_are_a_warning_naming_the_file(
    tmp_path: Path, declarations: str, reason: str
) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "odd.py").write_text(declarations + "\n")
    with pytest.warns(UserWarning, match=r"plugin file 'odd.py' was not loaded"):
        loaded = load_folder(folder)
    assert reason in loaded.files[0].error
    assert str(folder) not in loaded.files[0].error


def test_a_missing_folder_warns_and_loads_nothing(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="is not a folder"):
        loaded = load_folder(tmp_path / "missing")
    assert loaded.files == () and loaded_folder() is loaded
    assert load_folder(None).folder is None
