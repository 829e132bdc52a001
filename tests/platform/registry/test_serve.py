"""Against a real ``azuraforge serve`` (SQLite and PostgreSQL): an alias moved while a load
generator sends requests to name@alias (no request fails, the new version answers within
1 s), and the ``azuraforge models`` commands end to end."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app as cli
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.registry.conftest import SEQUENCE, completed_run
from tests.platform.servers import bearer, free_port, start_serve

pytestmark = pytest.mark.slow


@pytest.fixture
def served(
    request: pytest.FixtureRequest, store: Store, settings: Settings, trained, serves
) -> str:
    """A serve (no workers; 1 API process unless parametrised with another count) over a
    store holding completed runs run-0 and run-1."""
    for index, model in enumerate(trained):
        completed_run(store, settings, model, f"run-{index}")
    port = free_port()
    api_workers = str(getattr(request, "param", 1))
    serves.append(start_serve(settings, port, "--workers", "0", "--api-workers", api_workers))
    return f"http://127.0.0.1:{port}"


def models(url: str, *arguments: str) -> str:
    result = CliRunner().invoke(cli, ["models", *arguments, "--api-url", url])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("served", [1, 2], indirect=True, ids=["1-api-process", "2-api-processes"])
def test_moving_an_alias_under_load(served: str, beijing_rows, settings: Settings):
    """Each API process (each its own model cache) switches within 1 s; the load opens a new
    connection per request, so with 2 processes both answer."""
    models(served, "register", "weather", "run-0")
    models(served, "register", "weather", "run-1")
    models(served, "alias", "weather", "champion", "1")
    body = {"rows": beijing_rows[:SEQUENCE]}
    path = f"{served}/api/v1/models/weather@champion/predict"
    answers: list[tuple[float, int, Any]] = []
    stop = threading.Event()

    def load() -> None:
        no_keep_alive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=10, limits=no_keep_alive, headers=bearer()) as client:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(path, json=body)
                    version = (
                        response.json().get("version")
                        if response.status_code == 200
                        else response.text
                    )
                    answers.append((sent, response.status_code, version))
                except httpx.HTTPError as e:
                    answers.append((sent, 0, repr(e)))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    asked = time.monotonic()
    models(served, "alias", "weather", "champion", "2", "--reason", "better")
    moved = time.monotonic()  # when the API has acknowledged the move, not when it was asked
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed[:5]
    assert len(answers) > 100
    late = [version for sent, _, version in answers if sent > moved + 1.0]
    assert late and set(late) == {2}
    switched = min(sent for sent, _, version in answers if version == 2)
    assert switched - moved < 1.0
    assert {version for sent, _, version in answers if sent < asked} == {1}


def test_models_commands_end_to_end(served: str, beijing_rows, tmp_path):
    assert "registered weather/1 from experiment" in models(served, "register", "weather", "run-0")
    models(served, "register", "weather", "run-1", "--description", "seed 1")
    listing = models(served, "list")
    assert "weather" in listing and "1 models" in listing
    assert "moved: - → 1" in models(
        served, "alias", "weather", "champion", "1", "--reason", "first"
    )
    assert "moved: 1 → 2" in models(served, "alias", "weather", "champion", "2")
    assert "rolled back: 2 → 1" in models(served, "rollback", "weather", "champion")
    history = models(served, "history", "weather", "champion")
    assert history.count("yes") == 1 and "first" in history
    shown = models(served, "show", "weather")
    assert "champion" in shown and "run-1" in shown
    refused = CliRunner().invoke(cli, ["models", "delete", "weather/1", "--api-url", served])
    assert refused.exit_code == 1 and "weather@champion" in refused.output
    assert "deleted weather/2" in models(served, "delete", "weather/2")
    rows = tmp_path / "rows.csv"
    with rows.open("w") as handle:
        handle.write(",".join(beijing_rows[0]) + "\n")
        handle.writelines(
            ",".join(str(v) for v in r.values()) + "\n" for r in beijing_rows[:SEQUENCE]
        )
    printed = models(served, "predict", "weather@champion", str(rows), "--horizon", "1")
    assert printed.splitlines()[0] == "time,last_input_time,steps_ahead,forecast"
    missing = CliRunner().invoke(cli, ["models", "show", "nope", "--api-url", served])
    assert missing.exit_code == 2 and "no model named 'nope'" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
