"""Live settings in a process (:class:`LiveSettings`): a version applied whole and in order,
its restart settings at the next start alone, changes of two processes merged, a version this
process refuses kept out, the log level applied, and the poller finding another's change."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from azuraforge.platform.services.server_settings import (
    CATALOGUE,
    LiveSettings,
    SettingRefusedError,
    apply_log_level,
    change_settings,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store


@pytest.fixture
def live(settings: Settings, store: Store) -> LiveSettings:
    held = LiveSettings(settings)
    held.load(store)
    return held


def test_the_catalogue_holds_every_setting_but_those_of_the_environment() -> None:
    environment_only = {"database_url", "home", "session_key", "plugins_dir", "data_dir",
                        "blob_store", "assist_memory_url"}  # fmt: skip
    assert set(CATALOGUE) == set(Settings.model_fields) - environment_only
    assert CATALOGUE["max_request_bytes"].live and not CATALOGUE["workers"].live
    assert {n for n, s in CATALOGUE.items() if s.secret} >= {"metrics_token", "webhook_key"}


def test_listeners_see_a_version_before_requests_do(live: LiveSettings, store: Store) -> None:
    seen: list[tuple[int, int, int]] = []
    live.on_change(lambda new: seen.append((new.max_predict_rows, live.version, 0)))
    change_settings(store, live, {"max_predict_rows": 3}, "ada")
    assert seen == [(3, 0, 0)]  # called with the new settings while the old still served
    assert live.version == 1 and live.current.max_predict_rows == 3


def test_two_processes_changes_are_merged_and_an_old_version_is_not_applied(
    settings: Settings, store: Store, live: LiveSettings
) -> None:
    other = LiveSettings(settings)
    other.load(store)
    change_settings(store, live, {"max_predict_rows": 3}, "ada")
    change_settings(store, other, {"alias_refresh": 0.5}, "bob")  # it had not seen version 1
    assert store.find_server_settings().overrides == {  # type: ignore[union-attr]
        "max_predict_rows": 3, "alias_refresh": 0.5,
    }  # fmt: skip
    assert other.version == 2 and other.current.max_predict_rows == 3
    assert not live.apply(store.list_server_settings()[1])  # version 1: it runs it already
    assert live.refresh(store) and live.current.alias_refresh == 0.5


def test_a_restart_setting_waits_for_the_next_start(
    settings: Settings, store: Store, live: LiveSettings
) -> None:
    change = change_settings(store, live, {"workers": 7, "max_predict_rows": 4}, "ada")
    assert change.restart_required == ["workers"]
    assert live.current.workers == settings.workers and live.current.max_predict_rows == 4
    assert LiveSettings(settings).load(store).workers == 7


def test_a_version_this_process_refuses_is_not_applied(
    live: LiveSettings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.create_server_settings(1, {"max_predict_rows": 0}, ["max_predict_rows"], "ada")
    with caplog.at_level(logging.ERROR):
        assert not live.refresh(store)
    assert live.version == 0 and live.current.max_predict_rows == 10_000
    assert "server settings version 1 not applied: max_predict_rows" in caplog.text


def test_a_refused_change_names_its_settings(live: LiveSettings, store: Store) -> None:
    with pytest.raises(SettingRefusedError, match="assist_max_tokens") as refused:
        change_settings(store, live, {"assist_max_tokens": 0, "max_predict_rows": 2}, "ada")
    assert [name for name, _ in refused.value.problems] == ["assist_max_tokens"]
    assert store.find_server_settings() is None


@pytest.fixture
def azuraforge_level() -> Iterator[None]:
    logger = logging.getLogger("azuraforge")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.mark.usefixtures("azuraforge_level")
def test_the_log_level_applies_to_the_azuraforge_loggers(live: LiveSettings, store: Store) -> None:
    live.on_change(apply_log_level)  # as an app listens (api.app._settings_changed)
    change_settings(store, live, {"log_level": "DEBUG"}, "ada")
    assert logging.getLogger("azuraforge.platform.jobs").getEffectiveLevel() == logging.DEBUG
    change_settings(store, live, {"log_level": None}, "ada")  # back to the process's own
    assert logging.getLogger("azuraforge").level == logging.NOTSET


def test_the_poller_finds_another_process_s_version(
    settings: Settings, store: Store, live: LiveSettings
) -> None:
    live.start()
    try:
        writer = LiveSettings(settings)
        change_settings(store, writer, {"max_predict_rows": 11}, "ada")
        deadline = time.monotonic() + 30  # a wait, not a timing assertion (the benchmark times)
        while live.version < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        live.stop()
    assert live.version == 1 and live.current.max_predict_rows == 11
