"""The sandbox: real child processes, with their time, memory, file and output limits."""

import json
import time
from pathlib import Path

import pytest

from azuraforge.assist.sandbox import STATUSES, Limits, SandboxResult, run_tests
from azuraforge.errors import InvalidParameterError

QUICK = Limits(cpu_seconds=1, wall_seconds=2.0, memory_mb=256)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_code_that_passes_its_tests_passes():
    result = run_tests("def add(a, b):\n    return a + b\n", ["assert add(1, 2) == 3"] * 3)
    assert result == SandboxResult(
        "passed", result.seconds, "3 tests passed", "", "", result.cpu_seconds
    )
    assert result.passed and 0 < result.seconds < 5


def test_a_wrong_answer_fails_and_names_the_failing_test():
    result = run_tests(
        "def add(a, b):\n    return a * b\n", ["assert add(2, 2) == 4", "assert add(1, 2) == 3"]
    )
    assert (result.status, result.passed) == ("failed", False)
    assert result.message == "test 2 of 2 (assert add(1, 2) == 3) raised AssertionError"
    assert 'File "test_2.py", line 1' in result.stderr and "assert add(1, 2) == 3" in result.stderr


def test_an_exception_raised_by_the_tested_code_is_a_failure():
    result = run_tests("def f(x):\n    return 1 / x\n", ["assert f(0) == 1"])
    assert result.status == "failed"
    assert result.message.endswith("raised ZeroDivisionError: division by zero")
    assert 'File "solution.py", line 2, in f' in result.stderr
    assert "return 1 / x" in result.stderr  # the code's lines are in the traceback


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def f(:\n", "the code raised SyntaxError: invalid syntax (solution.py, line 1)"),
        ("raise ValueError('bad')", "the code raised ValueError: bad"),
        ("import sys\nsys.exit(0)", "the code raised exit(0)"),
        ("x = input()", "the code raised EOFError: EOF when reading a line"),
    ],
)
def test_code_that_cannot_reach_its_tests_is_an_error(code, message):
    result = run_tests(code, ["assert False"])
    assert (result.status, result.message) == ("error", message)


def test_leaving_without_a_verdict_is_an_error_never_a_pass():
    result = run_tests("import os\nos._exit(0)", ["assert False"])
    assert result.status == "error"
    assert result.message == "exited with code 0 before its tests finished"
    crash = run_tests("import ctypes\nctypes.string_at(0)", [])
    assert (crash.status, crash.message) == (
        "error",
        "killed by SIGSEGV before its tests finished",
    )


def test_an_infinite_loop_times_out_at_the_cpu_limit_and_a_sleeper_at_the_wall_clock():
    # A generous wall clock: on a busy machine 1 s of CPU can take several seconds to use.
    spinning = Limits(cpu_seconds=1, wall_seconds=30.0, memory_mb=256)
    result = run_tests("while True:\n    pass\n", [], limits=spinning)
    assert (result.status, result.message) == ("timeout", "used 1 s of CPU: killed")
    # The time rusage reports can fall short of the ticks the limit counts (steal on a VM).
    assert 0.5 <= result.cpu_seconds < 2.5 and result.seconds < 30
    asleep = run_tests("import time\ntime.sleep(60)", [], limits=QUICK)
    assert (asleep.status, asleep.message) == ("timeout", "still running after 2 s: killed")
    assert 2.0 <= asleep.seconds < 4.0 and asleep.cpu_seconds < 0.5


@pytest.mark.parametrize(
    "code",
    ["x = bytearray(1 << 30)", "x = []\nwhile True:\n    x.append(bytearray(1 << 22))"],
    ids=["one-allocation", "growing"],
)
def test_a_memory_hog_hits_the_memory_limit(code):
    result = run_tests(code, ["assert False"], limits=QUICK)
    assert (result.status, result.message) == ("memory", "the code raised MemoryError")
    in_a_test = run_tests("def hog():\n    return ' ' * (1 << 30)", ["hog()"], limits=QUICK)
    assert in_a_test.status == "memory" and in_a_test.message.startswith("test 1 of 1 (hog())")


def test_the_working_folder_is_fresh_and_removed_afterwards():
    code = "import os\nprint(os.getcwd())\nprint(os.listdir('.'))\nopen('made.txt', 'w').close()"
    result = run_tests(code, [])
    folder_line, listing = result.stdout.splitlines()
    folder = Path(folder_line)
    assert listing == "[]" and folder.name == "work"
    assert folder.parent.name.startswith("azuraforge-sandbox-")
    assert not folder.exists() and not folder.parent.exists()


def test_the_child_is_isolated_with_an_almost_empty_environment(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    code = (
        "import json, os, sys\nprint(json.dumps([dict(os.environ), sys.flags.isolated, __name__]))"
    )
    result = run_tests(code + "\nif __name__ == '__main__':\n    print('main ran')", [])
    environment, isolated, name = json.loads(result.stdout.splitlines()[0])
    assert set(environment) == {
        "PATH", "HOME", "TMPDIR", "LC_ALL", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    }  # fmt: skip
    assert environment["HOME"] == environment["TMPDIR"] and environment["HOME"].endswith("work")
    assert (isolated, name) == (1, "solution") and "main ran" not in result.stdout


def test_processes_the_code_started_are_killed_with_it():
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
    )
    result = run_tests(code, [])
    assert result.passed
    pid = int(result.stdout)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(pid)


def test_output_is_cut_to_its_head_and_tail():
    result = run_tests("print('a' * 50_000 + 'z' * 50_000)", [], limits=Limits(output_chars=100))
    assert result.passed and len(result.stdout) < 200
    assert result.stdout.startswith("a" * 50) and result.stdout.endswith("z" * 49 + "\n")
    assert "100,001 bytes in all, cut" in result.stdout


def test_files_larger_than_the_limit_cannot_be_written():
    code = "with open('big', 'wb') as f:\n    f.write(b'x' * (2 << 20))"
    result = run_tests(code, [], limits=Limits(file_mb=1))
    assert result.status == "error" and "File too large" in result.message


def test_setup_runs_between_the_code_and_the_tests():
    result = run_tests(
        "class Node:\n    def __init__(self, v):\n        self.v = v\n",
        ["assert root.v == 3"],
        setup="root = Node(3)",
    )
    assert result.passed
    broken = run_tests("x = 1", ["assert True"], setup="raise KeyError('k')")
    assert (broken.status, broken.message) == ("error", "the setup raised KeyError: 'k'")


def test_limits_must_be_positive():
    with pytest.raises(InvalidParameterError, match="every limit must be positive"):
        Limits(wall_seconds=0)
    with pytest.raises(InvalidParameterError, match="every limit must be positive"):
        Limits(processes=0)
    assert STATUSES == ("passed", "failed", "timeout", "memory", "error")
