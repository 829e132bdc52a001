"""A ``track`` run samples its process as ``system/...`` metrics, at steps of their own,
until it ends; ``system_metrics=0`` samples nothing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from azuraforge import track
from azuraforge.platform.store import Store
from azuraforge.system_metrics import NAMES, PROCESS_RSS


@pytest.mark.parametrize("interval", [0.2, 0])
def test_a_track_run_samples_its_process_until_it_ends(
    interval: float, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sqlite_template, tmp_path / "embedded.db")
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "client"))
    monkeypatch.delenv("AZURAFORGE_TOKEN", raising=False)
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", url)
    monkeypatch.setenv("AZURAFORGE_API_URL", "http://127.0.0.1:9")  # no token for it
    started = time.monotonic()
    with track.start_run(name="sampled", system_metrics=interval, flush_interval=0.1) as run:
        for _ in range(5):
            run.log_metrics({"loss": 1.0})  # default steps: 0, 1, 2...
            time.sleep(0.2)
    lasted = time.monotonic() - started
    store = Store(url)
    try:
        curves = store.get_metrics(run.id)  # type: ignore[arg-type]
    finally:
        store.close()
    assert [step for step, _, _ in curves["loss"]] == [0, 1, 2, 3, 4]
    system = {key: points for key, points in curves.items() if key.startswith("system/")}
    if not interval:
        assert system == {}
        return
    assert set(system) == set(NAMES)
    assert 3 <= len(system[PROCESS_RSS]) <= lasted / interval
    assert [step for step, _, _ in system[PROCESS_RSS]] == list(range(len(system[PROCESS_RSS])))
