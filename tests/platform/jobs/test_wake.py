"""The local transport's wake-up pipe: a submit wakes an idle worker at once (it waited for its
next poll of the store, 131 ms of a trivial run's 170 ms round trip)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from azuraforge.platform.jobs.queueing import make_transport
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.wake import WAKE_FILE, Alarm, wake
from azuraforge.platform.settings import Settings


def waited(alarm: Alarm, timeout: float, poke: object = None) -> float:
    """Seconds ``alarm.wait(timeout)`` took, ``poke()`` called 50 ms into it."""
    if callable(poke):
        threading.Timer(0.05, poke).start()
    started = time.monotonic()
    alarm.wait(timeout)
    return time.monotonic() - started


def test_a_submit_wakes_an_idle_worker_at_once(tmp_path: Path) -> None:
    alarm = Alarm(tmp_path / WAKE_FILE)
    transport = make_transport(Settings(home=tmp_path))
    try:
        assert isinstance(transport, LocalTransport) and transport.wake == tmp_path / WAKE_FILE
        assert waited(alarm, 5.0, lambda: transport.submit(7)) < 1.0
        assert 0.2 <= waited(alarm, 0.2) < 1.0  # the byte was taken: the next wait times out
        assert waited(alarm, 5.0, alarm.ring) < 1.0  # a signal handler ends a wait too
    finally:
        alarm.close()


def test_waking_with_nobody_listening_or_no_pipe_is_harmless(tmp_path: Path) -> None:
    wake(tmp_path / "absent")  # no pipe yet: nothing to do
    Alarm(tmp_path / WAKE_FILE).close()  # a pipe nobody reads
    wake(tmp_path / WAKE_FILE)
    for _ in range(100_000 // 4096 + 2):  # more bytes than a pipe holds: never blocks
        wake(tmp_path / WAKE_FILE)


def test_a_file_in_the_pipes_place_is_left_alone_and_the_alarm_only_times_out(
    tmp_path: Path,
) -> None:
    (tmp_path / WAKE_FILE).write_text("not a pipe")
    alarm = Alarm(tmp_path / WAKE_FILE)
    try:
        wake(tmp_path / WAKE_FILE)
        assert 0.1 <= waited(alarm, 0.1) < 1.0
        assert (tmp_path / WAKE_FILE).read_text() == "not a pipe"
    finally:
        alarm.close()


def test_bytes_left_from_busy_times_wake_a_worker_once_not_once_each(tmp_path: Path) -> None:
    alarm = Alarm(tmp_path / WAKE_FILE)
    try:
        for _ in range(50):  # jobs queued while every worker was busy
            wake(tmp_path / WAKE_FILE)
        assert waited(alarm, 5.0) < 1.0
        assert 0.2 <= waited(alarm, 0.2) < 1.0  # all taken at once: no spinning on them
    finally:
        alarm.close()
    alarm.ring()  # a late signal after close rings nothing
    assert 0.05 <= waited(alarm, 0.05) < 1.0


def test_a_pipe_that_cannot_be_made_leaves_the_worker_polling(tmp_path: Path, caplog) -> None:
    (tmp_path / "file").write_text("a file where the home folder should be")
    alarm = Alarm(tmp_path / "file" / WAKE_FILE)
    try:
        assert 0.1 <= waited(alarm, 0.1) < 1.0
        assert "they poll the store" in caplog.text
    finally:
        alarm.close()
