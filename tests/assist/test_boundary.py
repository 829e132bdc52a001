"""The sandbox behind bubblewrap: code that tries to leave gets nothing. It cannot reach the
store's or the broker's port, read the server's home, its store or the checkout, write
outside its folder, leave a daemon behind, take the memory or fork without end, and the
machine is untouched;
where bubblewrap is missing the boundary says so (never runs the code unbounded)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from azuraforge.assist.boundary import PIDS_CONTROLLERS, Bubblewrap
from azuraforge.assist.sandbox import Limits, run_tests
from azuraforge.errors import BoundaryUnavailableError

CHECKOUT = Path(__file__).resolve().parents[2]
LIMITS = Limits(cpu_seconds=5, wall_seconds=20.0, memory_mb=256)
DAEMON_GONE_WITHIN = 10.0
"""Seconds a killed daemon of the code may still show in ``/proc`` after its boundary ends."""


@pytest.fixture(scope="module")
def boundary() -> Bubblewrap:
    return Bubblewrap().ready()


def bounded(boundary: Bubblewrap, code: str, *tests: str) -> str:
    """The status and message of ``code`` and ``tests`` run behind ``boundary``."""
    result = run_tests(code, list(tests), limits=LIMITS, boundary=boundary)
    return f"{result.status}: {result.message}"


@pytest.mark.parametrize("port", [5432, 6379], ids=["postgresql", "redis"])
def test_the_stores_and_the_brokers_ports_cannot_be_reached(boundary, port):
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
    assert bounded(boundary, code) == (
        "error: the code raised ConnectionRefusedError: [Errno 111] Connection refused"
    )
    reached = run_tests(code, limits=LIMITS)  # the same code without the boundary
    assert reached.status == "passed"


def test_the_servers_files_are_not_there(boundary, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = home / "azuraforge.db"
    store.write_bytes(b"the store")
    for path in (store, CHECKOUT / "pyproject.toml", Path.home() / ".bashrc", Path("/etc/passwd")):
        code = f"open({str(path)!r}).read()"
        assert bounded(boundary, code).startswith("error: the code raised FileNotFoundError"), path
    # The root holds what the boundary builds: the system's own folders and links, and the
    # first folder of the interpreter's installation (/root of /root/.pyenv/...), no more.
    system = {p.name for p in map(Path, ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"))
              if p.is_symlink() or p.is_dir()}  # fmt: skip
    installed = Path(os.path.realpath(sys.executable)).parents[1].parts[1]
    found = sorted({"dev", "proc", "sandbox", "tmp", "usr", installed} | system)
    listing = "import os\nassert sorted(os.listdir('/')) == FOUND, os.listdir('/')"
    assert bounded(boundary, f"FOUND = {found!r}", listing) == "passed: 1 test passed"


def test_nothing_outside_its_folder_can_be_written_and_the_machine_is_untouched(
    boundary, tmp_path
):
    kept = tmp_path / "kept.txt"
    kept.write_text("before")
    before = hashlib.sha256(kept.read_bytes()).hexdigest()
    marker = f"azuraforge-{uuid.uuid4().hex}"
    for path in ("/usr/lib/x", str(kept), str(CHECKOUT / "x"), "/sandbox/../etc/x"):
        code = f"open({path!r}, 'w').write('x')"
        assert bounded(boundary, code).startswith("error: the code raised "), path
    assert bounded(boundary, f"open('/tmp/{marker}', 'w').write('x')") == "passed: 0 tests passed"
    assert not Path("/tmp", marker).exists()  # its /tmp was its own
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == before


def test_a_daemon_it_forks_dies_with_it(boundary):
    token = f"3{uuid.uuid4().int % 10**6}.5"  # the daemon's sleep, found in /proc after
    code = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{token}'])\n"
        "    os._exit(0)\n"
    )
    assert bounded(boundary, code) == "passed: 0 tests passed"
    # Killed as the boundary ends, gone moments later (once not yet, on a loaded machine).
    deadline = time.monotonic() + DAEMON_GONE_WITHIN
    while left := [pid for pid in os.listdir("/proc") if pid.isdigit() and _runs(pid, token)]:
        assert time.monotonic() < deadline, (
            f"{left} outlived the boundary by {DAEMON_GONE_WITHIN} s"
        )
        time.sleep(0.05)


def _runs(pid: str, token: str) -> bool:
    try:
        return token in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:  # the process ended meanwhile
        return False


def test_memory_and_processes_are_limited_inside(boundary):
    assert bounded(boundary, "x = bytearray(1 << 30)") == "memory: the code raised MemoryError"
    forks = "import os, time\nfor _ in range(64):\n    if os.fork() == 0:\n        time.sleep(2)"
    few = Limits(cpu_seconds=5, wall_seconds=20.0, memory_mb=256, processes=8)
    result = run_tests(forks, limits=few, boundary=boundary)
    assert (result.status, result.message) == (
        "error",
        "the code raised BlockingIOError: [Errno 11] Resource temporarily unavailable",
    )
    assert not [g for c in PIDS_CONTROLLERS for g in c.glob("azuraforge-sandbox-*")]  # removed


def test_without_bubblewrap_the_boundary_refuses_and_says_how_to_get_it():
    with pytest.raises(BoundaryUnavailableError, match="apt-get install bubblewrap"):
        Bubblewrap("no-such-bwrap").ready()
