"""The processes of ``benchmarks/replicas.py``, on loopback, as ``deploy/compose.yaml`` runs
them: ``azuraforge db upgrade`` once, three ``serve --workers 0`` replicas, two Celery worker
pools, HAProxy with ``deploy/haproxy.cfg`` (its addresses made loopback ones, TLS with a
certificate made here), PostgreSQL, Redis and the S3 server of the tests.

Every platform process gets the environment of the compose file's ``api`` and ``worker``
services (the same variables, loopback values) and a home of its own; nothing else is shared
but the database, the broker and the object store."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness import ROOT, free_port
from platform_live import ProcessGroups, azuraforge, child_environment

COMPOSE = ROOT / "deploy" / "compose.yaml"
HAPROXY = ROOT / "deploy" / "haproxy.cfg"
HEALTH = "/api/v1/health"
STARTS_WITHIN = 90.0
"""Seconds a replica or a worker pool has to be ready (several start at once on 2 cores)."""
HOSTNAME = "af.test"
"""The name the certificate is made for (and the replicas' allowed host, as in compose)."""
LEASES = {"lease_ttl": 6.0, "heartbeat_interval": 1.0, "alert_interval": 0.5,
          "resend_after": 5.0}  # fmt: skip
"""Shorter than the defaults (30 s, 5 s, 5 s, 30 s) so a lost worker's jobs are taken back,
the tasks it had taken from the broker sent again, and alerts move, within the run: the
many-machines cluster test's leases."""
REDIS_SERVER = "redis://127.0.0.1:6379"
OWNER_KEY = "azuraforge-benchmark-owner"


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for :data:`HOSTNAME` and 127.0.0.1 made now: the PEM file
    HAProxy reads (certificate and key) and the certificate alone (what clients trust)."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={HOSTNAME}",
            "-addext",
            f"subjectAltName=DNS:{HOSTNAME},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pem = folder / "azuraforge.pem"
    pem.write_text(cert.read_text() + key.read_text())
    return pem, cert


LOOPBACK_EDITS = (
    (r"\nresolvers docker\n(?:    .*\n)+", "\n"),
    (r" resolvers docker init-addr none", ""),
    (r"bind :8443 ", "bind 127.0.0.1:{https} "),
    (r"bind :8080\n", "bind 127.0.0.1:{http}\n"),
    (r"    server-template api- 3 api:8000\n", "{servers}"),
)
"""What :func:`haproxy_config` changes in deploy/haproxy.cfg, each exactly once: Docker's
DNS and its service name give way to the replicas' loopback ports."""


def haproxy_config(replicas: list[int], https: int, http: int) -> str:
    """deploy/haproxy.cfg with loopback addresses: the replicas on ``replicas``' ports,
    listening on ``https`` and ``http``; everything else (TLS, health checks, retries,
    redispatch, time-outs) as it is.

    Raises
    ------
    SystemExit
        When deploy/haproxy.cfg no longer has a line this rewrites.
    """
    text = HAPROXY.read_text()
    servers = "".join(
        f"    server api-{n} 127.0.0.1:{port}\n" for n, port in enumerate(replicas, 1)
    )
    for pattern, replacement in LOOPBACK_EDITS:
        text, count = re.subn(
            pattern, replacement.format(https=https, http=http, servers=servers), text
        )
        if count != 1:
            raise SystemExit(
                f"deploy/haproxy.cfg has no {pattern!r} (or several) to make a "
                "loopback one: update LOOPBACK_EDITS in benchmarks/replicas_cluster.py"
            )
    return text


def retry_window_s(config: str) -> float:
    """How long HAProxy may send requests to a replica that died: ``fall`` health checks
    ``inter`` seconds apart (the retries send what the dead one refuses meanwhile)."""
    inter = re.search(r"\binter (\d+)s\b", config)
    fall = re.search(r"\bfall (\d+)\b", config)
    if inter is None or fall is None:
        raise SystemExit("deploy/haproxy.cfg's default-server gives no inter and fall")
    return float(inter[1]) * int(fall[1])


def compose_environment(values: dict[str, str]) -> dict[str, str]:
    """The environment of the compose file's platform services, ``values`` giving each of its
    variables (loopback addresses, this run's secrets).

    Raises
    ------
    SystemExit
        When the compose file sets a variable ``values`` does not give, or no longer one it
        gives: the benchmark would no longer run what the compose file runs.
    """
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    names = set(services["api"]["environment"]) | set(services["worker"]["environment"])
    if names != set(values):
        raise SystemExit(
            f"deploy/compose.yaml's environment is {sorted(names)}, the benchmark "
            f"gives {sorted(values)}: update replicas_cluster.py"
        )
    return dict(values)


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    """A database of the local Redis server no one uses (the highest empty one, claimed with
    a key that expires after an hour), emptied at the end."""
    import redis

    count = int(redis.Redis.from_url(REDIS_SERVER).config_get("databases")["databases"])
    token = uuid.uuid4().hex
    for db in range(count - 1, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}")
        if client.dbsize() == 0 and client.set(OWNER_KEY, token, nx=True, ex=3600):
            break
    else:
        raise SystemExit(f"every database of the Redis server at {REDIS_SERVER} is in use")
    try:
        yield f"{REDIS_SERVER}/{db}"
    finally:
        client.flushdb()
        client.close()


@dataclass
class Member:
    """A platform process of the cluster: its role (``api`` or ``worker``), its number, its
    process, its log and, for a replica, its port."""

    role: str
    number: int
    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0


@dataclass
class Cluster:
    """The running cluster: its processes, where HAProxy listens, the certificate clients
    trust, and how to start a member again."""

    work: Path
    groups: ProcessGroups
    environment: dict[str, str]
    members: list[Member] = field(default_factory=list)
    https: int = 0
    cert: Path = Path()
    config: str = ""
    restarts: int = 0

    @property
    def balancer(self) -> str:
        return f"https://127.0.0.1:{self.https}"

    def replicas(self) -> list[Member]:
        return [m for m in self.members if m.role == "api"]

    def workers(self) -> list[Member]:
        return [m for m in self.members if m.role == "worker"]

    def start(self, role: str, number: int, port: int = 0) -> Member:
        """Start replica or worker ``number`` (on a home of its own, kept across restarts)."""
        home = self.work / f"{role}-{number}"
        env = {**self.environment, "AZURAFORGE_HOME": str(home)}
        log = self.work / f"{role}-{number}.{self.restarts}.log"
        self.restarts += 1
        if role == "api":
            port = port or free_port()
            command = azuraforge(
                "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "0"
            )
        else:
            command = azuraforge(
                "worker",
                "--transport",
                "celery",
                "--concurrency",
                "2",
                "--metrics-port",
                str(free_port()),
                "--metrics-host",
                "127.0.0.1",
            )
        member = Member(role, number, self.groups.start(command, env, log), log, port)
        self.members.append(member)
        return member

    def kill(self, member: Member) -> None:
        """SIGKILL ``member``'s whole process group, as a machine that dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(member.process.pid, signal.SIGKILL)
        member.process.wait()
        self.members.remove(member)

    def holding(self, pid: int) -> Member:
        """The member whose process group holds process ``pid``."""
        group = os.getpgid(pid)
        return next(m for m in self.members if m.process.pid == group)


def wait_ready(members: list[Member]) -> None:
    """Wait until each replica answers its health check and each worker pool says Celery's
    ``ready.``; exit naming the first that ended or did not within :data:`STARTS_WITHIN`."""
    deadline = time.monotonic() + STARTS_WITHIN
    waiting = list(members)
    while waiting:
        member = waiting[0]
        if member.process.poll() is not None or time.monotonic() > deadline:
            log = member.log.read_text(errors="replace")
            raise SystemExit(f"{member.role} {member.number} is not ready:\n{log[-3000:]}")
        if _ready(member):
            waiting.pop(0)
        else:
            time.sleep(0.1)


def _ready(member: Member) -> bool:
    if member.role == "worker":
        return "ready." in member.log.read_text(errors="replace")
    try:
        return httpx.get(f"http://127.0.0.1:{member.port}{HEALTH}").status_code == 200
    except httpx.TransportError:
        return False


def start_haproxy(cluster: Cluster, pem: Path) -> None:
    """HAProxy on deploy/haproxy.cfg made loopback, in the foreground of its own group,
    once it answers the health check through TLS."""
    ports = [m.port for m in cluster.replicas()]
    cluster.https = free_port()
    cluster.config = haproxy_config(ports, cluster.https, free_port())
    path = cluster.work / "haproxy.cfg"
    path.write_text(cluster.config)
    env = {"AZURAFORGE_TLS_PEM": str(pem), "PATH": "/usr/sbin:/usr/bin:/bin"}
    process = cluster.groups.start(
        ["haproxy", "-db", "-f", str(path)], env, cluster.work / "haproxy.log"
    )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            said = (cluster.work / "haproxy.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"HAProxy did not start:\n{said}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(cluster.balancer + HEALTH, verify=str(cluster.cert)).status_code == 200:
                return
        time.sleep(0.1)


def cluster_environment(
    database_url: str, broker_url: str, s3: dict[str, str], plugin: Path, **settings: Any
) -> dict[str, str]:
    """Every platform process's environment: the compose file's variables (loopback values,
    secrets made now), the sleeper plugin on the path, :data:`LEASES` and ``settings``."""
    compose = compose_environment(
        {
            "AZURAFORGE_DATABASE_URL": database_url,
            "AZURAFORGE_TRANSPORT": "celery",
            "AZURAFORGE_BROKER_URL": broker_url,
            "AZURAFORGE_BLOB_STORE": s3["AZURAFORGE_BLOB_STORE"],
            "AZURAFORGE_S3_ENDPOINT": s3["AZURAFORGE_S3_ENDPOINT"],
            "AWS_ACCESS_KEY_ID": s3["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AZURAFORGE_METRICS_TOKEN": secrets.token_hex(32),
            "AZURAFORGE_ALLOWED_HOSTS": HOSTNAME,
            "AZURAFORGE_TRUSTED_PROXIES": "127.0.0.1",
        }
    )
    home = Path(os.devnull)  # each member's own, given at its start
    env = child_environment(plugin, home, **LEASES, **settings)
    return {**env, **compose}
