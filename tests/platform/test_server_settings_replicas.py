"""Live settings across replicas: two ``azuraforge serve`` processes on one store; a change
made through one is run by the other (its /health names the version, and it enforces the new
limit) without a restart. No timing is asserted: the benchmark (benchmarks/live_settings.py)
measures how soon."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from azuraforge.platform.settings import Settings
from tests.platform.servers import bearer, free_port, start_serve

WAIT = 60.0
"""Most seconds this test waits for the other replica (a loaded CI machine)."""


def _version(url: str) -> int:
    return int(httpx.get(f"{url}/api/v1/health").json()["settings_version"])


def test_a_change_through_one_serve_is_run_by_the_other(
    tmp_path: Path, serves: list[subprocess.Popen[bytes]]
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'af.db'}")
    urls = []
    for _ in range(2):
        port = free_port()
        serves.append(start_serve(settings, port, "--workers", "0"))
        urls.append(f"http://127.0.0.1:{port}")
    one, other = urls
    body = b"x" * 3000
    assert httpx.post(f"{other}/api/v1/runs", content=body, headers=bearer()).status_code != 413
    changed = httpx.patch(f"{one}/api/v1/server/settings", headers=bearer(),
                          json={"max_request_bytes": 2000})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert _version(one) == 1
    deadline = time.monotonic() + WAIT
    while _version(other) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _version(other) == 1
    refused = httpx.post(f"{other}/api/v1/runs", content=body, headers=bearer())
    assert refused.status_code == 413, refused.text
    assert refused.headers["X-AzuraForge-Settings-Version"] == "1"
    assert "2,000 bytes" in refused.json()["error"]["message"]
