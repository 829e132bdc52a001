"""KeptThreads: a task runs on an idle kept thread, or a new one while all are busy; a failing
task keeps its thread; a forked child starts with none of its parent's."""

from __future__ import annotations

import os
import threading

import pytest

from azuraforge.platform.jobs.threads import KeptThreads


def run_on(
    threads: KeptThreads, block: threading.Event | None = None
) -> tuple[list[int], threading.Event]:
    """The thread a task ran on (its ident, once it started) and the task's done event;
    ``block``: the task waits for it (else this waits for the task)."""
    seen: list[int] = []

    def task() -> None:
        seen.append(threading.get_ident())
        if block is not None:
            block.wait(5)

    done = threads.run(task)
    if block is None:
        assert done.wait(5)
    return seen, done


def test_an_idle_thread_runs_the_next_task_and_a_busy_one_gets_company() -> None:
    threads = KeptThreads("test-kept")
    first, _ = run_on(threads)
    second, _ = run_on(threads)
    assert first == second  # the same thread, kept
    release = threading.Event()
    busy, busy_done = run_on(threads, release)
    other, _ = run_on(threads)
    assert other != busy  # a second thread while the first is busy
    release.set()
    assert busy_done.wait(5)


def test_a_task_that_raises_is_done_and_its_thread_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    threads = KeptThreads("test-kept")
    first, _ = run_on(threads)

    def fails() -> None:
        raise ValueError("boom")

    assert threads.run(fails).wait(5)
    assert "a task of the test-kept thread failed" in caplog.text
    again, _ = run_on(threads)
    assert again == first


def test_a_forked_child_runs_tasks_on_threads_of_its_own() -> None:
    threads = KeptThreads("test-kept")
    run_on(threads)  # the parent keeps an idle thread
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the parent's idle thread does not exist here: the task would never run
        ok = threads.run(lambda: None).wait(5)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"1"
