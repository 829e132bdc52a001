"""CheckpointStore on real files: exact round trips, retention over days, damaged files and
pointers, and a writer killed with SIGKILL at random moments more than a hundred times."""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from azuraforge.errors import (
    DataFormatError,
    InvalidParameterError,
    NotFoundError,
    SchemaMismatchError,
)
from azuraforge.stream import checkpoints
from azuraforge.stream.checkpoints import CheckpointStore
from tests.stream.checkpoint_writer import state_for

DAY = 86_400.0
NEW_YEAR_2024 = 1_704_067_200.0  # 2024-01-01 00:00 UTC


def assert_identical(loaded: Any, saved: Any, where: str = "state") -> None:
    """Equal values of the same types; arrays of the same dtype, shape and bits."""
    assert type(loaded) is type(saved), where
    if isinstance(saved, dict):
        assert list(loaded) == list(saved), where
        for key in saved:
            assert_identical(loaded[key], saved[key], f"{where}[{key!r}]")
    elif isinstance(saved, list):
        assert len(loaded) == len(saved), where
        for index, (a, b) in enumerate(zip(loaded, saved, strict=True)):
            assert_identical(a, b, f"{where}[{index}]")
    elif isinstance(saved, np.ndarray | np.generic):
        assert (loaded.dtype, loaded.shape) == (saved.dtype, saved.shape), where
        assert np.asarray(loaded).tobytes() == np.asarray(saved).tobytes(), where
    elif isinstance(saved, float) and math.isnan(saved):
        assert math.isnan(loaded), where
    else:
        assert loaded == saved and repr(loaded) == repr(saved), where  # -0.0 is not 0.0


def every_kind_of_state() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    return {
        "floats": [0.1, -0.0, 1e-310, 1.7976931348623157e308, math.nan, math.inf, -math.inf],
        "ints": [0, -1, 2**63, -(2**200), 10**100],
        "other": [None, True, False, "", "Zürich ✓", [[], {}]],
        "arrays": {
            "f64": rng.standard_normal((3, 4)),
            "f32": rng.standard_normal(5).astype(np.float32),
            "f16": np.array([np.nan, np.inf, -0.0, 1.5], dtype=np.float16),
            "i8": np.array([-128, 127], dtype=np.int8),
            "u64": np.array([2**64 - 1, 0], dtype=np.uint64),
            "bool": rng.random(6) > 0.5,
            "fortran": np.asfortranarray(rng.standard_normal((2, 3))),
            "big_endian": np.arange(4, dtype=">i4"),
            "empty": np.zeros((0, 3)),
            "zero_d": np.array(2.5),
        },
        "scalars": [np.float64(0.1), np.float32(np.nan), np.int64(-(2**62)), np.bool_(True)],
        "nested": {"a": {"b": {"c": [1, {"d": np.arange(3)}]}}, "dict": {"array": 1}},
    }


def test_a_state_round_trips_exactly_with_its_step_and_meta(tmp_path: Path):
    state = every_kind_of_state()
    saved = CheckpointStore(tmp_path, clock=lambda: NEW_YEAR_2024 + 0.25).save(
        state, step=12_345, meta={"learner": "LinearRegression", "loss": math.inf}
    )
    assert (saved.version, saved.path) == (1, tmp_path / "ckpt-000001.npz")
    for loaded in (CheckpointStore(tmp_path).load(1), CheckpointStore(tmp_path).load_latest()):
        assert loaded is not None and loaded.notes == ()
        assert_identical(loaded.state, state)
        assert (loaded.version, loaded.time, loaded.step) == (1, NEW_YEAR_2024 + 0.25, 12_345)
        assert loaded.meta == {"learner": "LinearRegression", "loss": math.inf}
        assert loaded.state["arrays"]["f64"].flags.writeable  # a learner may update it in place


def test_each_save_is_the_next_version_and_the_pointer_names_it(tmp_path: Path):
    store = CheckpointStore(tmp_path)
    assert store.versions() == [] and store.load_latest() is None  # no folder yet
    for expected in (1, 2, 3):
        assert store.save({"n": expected}).version == expected
        assert (tmp_path / "latest").read_text() == f"ckpt-{expected:06d}.npz\n"
    assert CheckpointStore(tmp_path).save({"n": 4}).version == 4  # a new process goes on
    assert sorted(os.listdir(tmp_path)) == [f"ckpt-00000{v}.npz" for v in (1, 2, 3, 4)] + [
        "latest"
    ]


class FakeClock:
    """A wall clock that moves only when told."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def save_every_six_hours(store: CheckpointStore, clock: FakeClock, days: int) -> None:
    for _ in range(4 * days):
        store.save({"time": clock.now})
        clock.now += DAY / 4


def test_retention_keeps_the_last_versions_and_the_newest_of_each_utc_day(tmp_path: Path):
    clock = FakeClock(NEW_YEAR_2024)
    save_every_six_hours(CheckpointStore(tmp_path, keep_last=3, clock=clock), clock, days=4)
    # versions 1-4 on Jan 1, 5-8 on Jan 2, ...: the newest of each day, and the last three
    assert CheckpointStore(tmp_path).versions() == [4, 8, 12, 14, 15, 16]
    # another store reads each file's time from its header and goes on the same way
    save_every_six_hours(CheckpointStore(tmp_path, keep_last=3, clock=clock), clock, days=1)
    assert CheckpointStore(tmp_path).versions() == [4, 8, 12, 16, 18, 19, 20]
    store = CheckpointStore(tmp_path, keep_last=2, keep_daily=False, clock=clock)
    store.save({"time": clock.now})
    assert store.versions() == [20, 21]


def test_retention_never_deletes_what_the_pointer_names(tmp_path: Path, monkeypatch):
    store = CheckpointStore(tmp_path, keep_last=1, keep_daily=False)
    store.save({"n": 1})
    original = checkpoints.CheckpointStore._write_atomically

    def pointer_stays(self, name, write):  # the pointer cannot be moved: the save fails
        if name == checkpoints.LATEST:
            raise OSError("disk full")
        original(self, name, write)

    monkeypatch.setattr(checkpoints.CheckpointStore, "_write_atomically", pointer_stays)
    with pytest.raises(OSError, match="disk full"):
        store.save({"n": 2})
    assert store.versions() == [1, 2]
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="version 2 was written after it"):
        assert store.load_latest().state == {"n": 2}  # type: ignore[union-attr]
    store.save({"n": 3})
    assert store.versions() == [3]


def three_versions(folder: Path) -> CheckpointStore:
    store = CheckpointStore(folder)
    for n in (1, 2, 3):
        store.save({"n": n, "data": np.arange(1000.0) * n})
    return store


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte_of_data(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4000] ^= 0x01  # inside the array: the zip still reads, the checksum does not
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [truncate, flip_a_byte_of_data, empty])
def test_a_damaged_newest_file_falls_back_to_the_one_before_and_says_so(tmp_path, damage):
    store = three_versions(tmp_path)
    damage(tmp_path / "ckpt-000003.npz")
    with pytest.raises(DataFormatError, match=r"ckpt-000003\.npz is damaged"):
        store.load(3)
    with pytest.warns(UserWarning, match=r"loaded checkpoint version 2 .*ckpt-000003\.npz"):
        latest = store.load_latest()
    assert latest is not None and latest.version == 2 and latest.state["n"] == 2
    assert "ckpt-000003.npz is damaged" in latest.notes[0]
    assert "the pointer names version 3, which does not verify" in latest.notes[1]


def test_a_changed_array_with_a_valid_zip_fails_the_checksum(tmp_path: Path):
    store = three_versions(tmp_path)
    path = tmp_path / "ckpt-000002.npz"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["a0.npy"] = members["a0.npy"][:-1] + b"\x00"  # the zip's CRC-32 is written anew
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(DataFormatError, match="its sha256 does not match its content"):
        store.load(2)


def test_a_file_renamed_to_another_version_is_refused(tmp_path: Path):
    store = three_versions(tmp_path)
    shutil.copy(tmp_path / "ckpt-000001.npz", tmp_path / "ckpt-000007.npz")
    with pytest.raises(DataFormatError, match="it holds version 1, not its name's 7"):
        store.load(7)
    with pytest.warns(UserWarning, match="holds version 1"):
        assert store.load_latest().version == 3  # type: ignore[union-attr]


def test_a_newer_format_asks_for_an_upgrade(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(checkpoints, "FORMAT_VERSION", 2)
    store = three_versions(tmp_path)
    monkeypatch.undo()
    with pytest.raises(SchemaMismatchError, match=r"version 2; .* up to version 1: upgrade"):
        store.load(3)


@pytest.mark.parametrize(
    "pointer", ["../outside.npz", "/tmp/ckpt-000009.npz", "ckpt-000002.npz/../x", ""]
)
def test_a_pointer_naming_anything_but_a_checkpoint_of_the_folder_is_refused(tmp_path, pointer):
    folder = tmp_path / "checkpoints"
    store = three_versions(folder)
    shutil.copy(folder / "ckpt-000003.npz", tmp_path / "outside.npz")
    (folder / "latest").write_text(pointer)
    with pytest.warns(UserWarning, match="refused the pointer"):
        latest = store.load_latest()
    assert latest is not None and latest.path == folder / "ckpt-000003.npz"
    refused = f"refused the pointer {folder / 'latest'}: it names {pointer!r}, not a checkpoint"
    assert latest.notes == (f"{refused} file",)


def test_a_symbolic_link_is_never_followed(tmp_path: Path):
    folder = tmp_path / "checkpoints"
    store = three_versions(folder)
    shutil.copy(folder / "ckpt-000001.npz", tmp_path / "outside.npz")
    (folder / "ckpt-000001.npz").unlink()
    (folder / "ckpt-000001.npz").symlink_to(tmp_path / "outside.npz")
    (folder / "ckpt-000009.npz").symlink_to(tmp_path / "outside.npz")
    assert store.versions() == [2, 3]
    with pytest.raises(DataFormatError, match="cannot read checkpoint"):
        store.load(9)


def test_a_stale_or_missing_pointer_is_reported_and_the_newest_checkpoint_taken(tmp_path):
    store = three_versions(tmp_path)
    (tmp_path / "latest").write_text("ckpt-000001.npz\n")  # a save stopped before moving it
    with pytest.warns(UserWarning, match="names version 1, but version 3 was written after"):
        assert store.load_latest().version == 3  # type: ignore[union-attr]
    (tmp_path / "latest").unlink()
    with pytest.warns(UserWarning, match="no pointer"):
        assert store.load_latest().version == 3  # type: ignore[union-attr]


def test_temporary_files_are_ignored_and_the_next_save_removes_them(tmp_path: Path):
    store = three_versions(tmp_path)
    left = [tmp_path / ".ckpt-000004.npz.0a1b2c.tmp", tmp_path / ".latest.3d4e5f.tmp"]
    for path in left:
        path.write_bytes(b"PK\x03\x04 half a file")
    (tmp_path / ".notes.tmp").write_text("someone else's")
    (tmp_path / "ckpt-0000009.npz").write_text("not a name this store writes")
    assert store.versions() == [1, 2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.load_latest().notes == ()  # type: ignore[union-attr]
    store.save({"n": 4})
    assert not any(path.exists() for path in left)
    assert (tmp_path / ".notes.tmp").exists() and (tmp_path / "ckpt-0000009.npz").exists()


def test_a_folder_with_nothing_loadable_says_why(tmp_path: Path):
    assert CheckpointStore(tmp_path).load_latest() is None  # an empty folder
    store = three_versions(tmp_path)
    for version in (1, 2, 3):
        empty(tmp_path / f"ckpt-00000{version}.npz")
    with pytest.raises(DataFormatError, match=r"no checkpoint in .* verifies: .*000003.*000001"):
        store.load_latest()
    for version in (1, 2, 3):
        (tmp_path / f"ckpt-00000{version}.npz").unlink()
    with pytest.raises(NotFoundError, match="names version 3, but the folder holds no"):
        store.load_latest()


def test_a_missing_version_is_not_found(tmp_path: Path):
    store = three_versions(tmp_path)
    with pytest.raises(NotFoundError, match=r"version 7 not found in .*; it holds versions 1, 2"):
        store.load(7)


def test_the_size_limit_refuses_a_large_state_and_a_large_file(tmp_path: Path):
    with pytest.raises(InvalidParameterError, match=r"state of 80,.* bytes: more than max_bytes"):
        CheckpointStore(tmp_path, max_bytes=10_000).save({"w": np.zeros(10_000)})
    CheckpointStore(tmp_path).save({"w": np.zeros(10_000)})
    with pytest.raises(DataFormatError, match=r"unpacks to 80,.* max_bytes=10,000"):
        CheckpointStore(tmp_path, max_bytes=10_000).load(1)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([1, 2], "state must be a dict of str keys, got a list"),
        ({"pair": (1, 2)}, r"state\['pair'\]: it is a tuple"),
        ({"a": {1: 2.0}}, r"state\['a'\]: its key 1 is a int"),
        ({"words": np.array(["a"])}, r"state\['words'\]: an array of dtype <U1"),
        ({"x": [np.array([object()])]}, r"state\['x'\]\[0\]: an array of dtype object"),
        ({"c": 1j}, "it is a complex"),
    ],
)
def test_a_state_a_checkpoint_cannot_hold_is_refused(tmp_path, state, message):
    with pytest.raises(InvalidParameterError, match=message):
        CheckpointStore(tmp_path).save(state)
    assert CheckpointStore(tmp_path).versions() == []


def test_bad_arguments_are_refused(tmp_path: Path):
    with pytest.raises(InvalidParameterError, match="keep_last must be an integer of at least"):
        CheckpointStore(tmp_path, keep_last=0)
    with pytest.raises(InvalidParameterError, match=r"max_bytes must be .* got 0"):
        CheckpointStore(tmp_path, max_bytes=0)
    store = CheckpointStore(tmp_path)
    with pytest.raises(InvalidParameterError, match=r"step must be an integer .* got -1"):
        store.save({}, step=-1)
    with pytest.raises(InvalidParameterError, match="meta must be a dict"):
        store.save({}, meta="note")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="at least 1, got '3'"):
        store.load("3")  # type: ignore[arg-type]


# ---- the kill test ------------------------------------------------------------------------
KILLS = 150
WRITER = Path(__file__).with_name("checkpoint_writer.py")


def checkpoints_being_written(folder: Path) -> set[str]:
    """The temporary files of checkpoints in ``folder`` (each name is new: it ends randomly)."""
    return {name for name in os.listdir(folder) if name.startswith(".ckpt-")}


def check_latest(store: CheckpointStore) -> checkpoints.Checkpoint | None:
    """load_latest's checkpoint, after checking it and every other file holds what its
    writer saved under its version."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a pointer behind is expected: notes are checked
        latest = store.load_latest()
    for version in store.versions():
        checkpoint = store.load(version)
        assert checkpoint.state["version"] == checkpoint.step == version
        assert np.array_equal(checkpoint.state["data"], state_for(version)["data"])
    if latest is not None:
        assert latest.version == store.versions()[-1]
        behind = ("was written after it", "no pointer")  # killed before moving the pointer
        assert all(any(b in note for b in behind) for note in latest.notes), latest.notes
    return latest


def wait_for_a_new_checkpoint_being_written(folder: Path, before: set[str]) -> None:
    """Return once a checkpoint's temporary file not in ``before`` is there (or after 1 s)."""
    give_up = time.perf_counter() + 1.0
    while time.perf_counter() < give_up and not checkpoints_being_written(folder) - before:
        time.sleep(0.0002)  # a file is being written for a millisecond or more: leave the CPU


def kill_one_writer(server: subprocess.Popen[str], delay: float, aim: Callable[[], None]) -> None:
    """Start a writer, SIGKILL it ``delay`` seconds later once ``aim()`` returns."""
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write("\n")
    server.stdin.flush()
    started = server.stdout.readline()
    assert started.startswith("writing "), started
    time.sleep(delay)
    aim()
    os.kill(int(started.split()[1]), signal.SIGKILL)
    assert server.stdout.readline() == "stopped -9\n"  # killed, not crashed


@pytest.mark.slow
def test_a_writer_killed_at_random_moments_always_leaves_a_whole_newest_checkpoint(tmp_path):
    """SIGKILL a writer (forked by checkpoint_writer.py, saving 320 KB states in a loop)
    0-30 ms after it starts (every other time, at the first checkpoint file it writes after
    that), KILLS times on one folder: the latest checkpoint always verifies and holds what
    was saved under its version, every other file too, and versions only go up."""
    rng = random.Random(20_240_601)
    store = CheckpointStore(tmp_path, keep_last=3, keep_daily=False)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # fork a process without BLAS threads
    seen, pointer_behind, mid_write = 0, 0, {False: 0, True: 0}  # by aimed or not
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, str(WRITER), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for kill in range(KILLS):
            before = checkpoints_being_written(tmp_path)
            aimed = kill % 2 == 1  # every other kill waits for a checkpoint file being written
            aim = partial(wait_for_a_new_checkpoint_being_written, tmp_path, before)
            kill_one_writer(server, rng.uniform(0.0, 0.03), aim if aimed else lambda: None)
            landed = bool(checkpoints_being_written(tmp_path) - before)
            mid_write[aimed] += landed
            latest = check_latest(store)
            assert latest is not None or seen == 0, "a checkpoint disappeared"
            if latest is not None:
                assert latest.version >= seen
                seen = latest.version
                pointer_behind += bool(latest.notes)
    finally:
        server.kill()
        server.wait()
    elapsed = time.perf_counter() - started
    print(
        f"{KILLS} kills in {elapsed:.1f} s; mid-write: {mid_write[False]} of {KILLS // 2} "
        f"random, {mid_write[True]} of {KILLS // 2} aimed; {pointer_behind} between a rename "
        f"and the pointer; {seen} versions saved"
    )
    assert mid_write[True] >= KILLS // 4  # the test does kill writers in the middle of a write
    assert seen >= 10  # and writers saved between kills (20 with two CPU hogs on 2 cores)
