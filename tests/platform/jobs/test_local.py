"""The local worker pool shares the cores out: each worker's BLAS may start its share of
threads, unless the user said how many."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.platform.jobs.local import BLAS_THREAD_VARIABLES, LocalWorkerPool, blas_threads
from azuraforge.platform.settings import Settings
from tests.platform.jobs.conftest import wait_for


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def test_each_worker_gets_its_share_of_blas_threads_unless_the_user_set_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    pool = LocalWorkerPool(settings, 2)
    pool.start()
    try:
        envs = [wait_for(lambda p=p: environment(p.pid)) for p in pool.processes]
    finally:
        pool.stop()
    share = str(blas_threads(2))
    for env in envs:
        assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == share
        assert env["MKL_NUM_THREADS"] == "7"
