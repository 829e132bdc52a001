"""The platform's metrics outside the API: who may scrape, the metrics server a worker pool
serves, and counts added up over processes that share a folder (a killed one's live gauge
dropped)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from azuraforge.errors import CredentialError, InvalidParameterError, PermissionDeniedError
from azuraforge.platform import prometheus
from azuraforge.platform.prometheus import MULTIPROCESS_VARIABLE, check_scrape, serve_metrics
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import states
from azuraforge.stream import shadow
from tests.platform.fixtures import settings_on_copy
from tests.platform.servers import free_port, start_serve

TOKEN = "t" * 40


@pytest.mark.parametrize("client", ["127.0.0.1", "::1", "127.0.0.2"])
def test_without_a_token_this_machine_may_scrape(client: str) -> None:
    check_scrape(None, "", client)


@pytest.mark.parametrize("client", ["10.0.0.1", "::ffff:10.0.0.1", "testclient", "", None])
def test_without_a_token_other_machines_are_refused(client: str | None) -> None:
    with pytest.raises(PermissionDeniedError, match="AZURAFORGE_METRICS_TOKEN"):
        check_scrape(None, f"Bearer {TOKEN}", client)


@pytest.mark.parametrize(
    "authorization", ["", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ", "Bearer é"]
)
def test_with_a_token_a_scrape_must_send_it(authorization: str) -> None:
    with pytest.raises(CredentialError) as refused:
        check_scrape(TOKEN, authorization, "127.0.0.1")
    assert TOKEN not in refused.value.public


def test_with_a_token_any_machine_that_sends_it_may_scrape() -> None:
    check_scrape(TOKEN, f"Bearer {TOKEN}", "10.0.0.1")
    check_scrape(TOKEN, f"bearer  {TOKEN} ", "10.0.0.1")


def test_a_short_scrape_token_is_refused_saying_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="9 characters, at least 32 needed; make one with"):
        Settings(home=tmp_path, metrics_token="too-short")
    assert Settings(home=tmp_path, metrics_token=TOKEN).metrics_token is not None


def test_the_command_line_imports_no_metrics_before_its_folder_is_set() -> None:
    """prometheus-client reads its folder once, at its import: the commands set it first."""
    script = "import sys, azuraforge.cli.main; print('prometheus_client' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True)  # fmt: skip
    assert found.stdout.strip() == "False"


def test_the_metrics_server_answers_metrics_alone_to_whom_may_scrape() -> None:
    port = free_port()
    server = serve_metrics("127.0.0.1", port, TOKEN)
    try:
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert (
            httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer no"}).status_code == 401
        )
        found = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert found.status_code == 200
        assert "azuraforge_workers" in found.text
        elsewhere = httpx.get(f"{url}/other", headers={"Authorization": f"Bearer {TOKEN}"})
        assert elsewhere.status_code == 404
        with pytest.raises(InvalidParameterError, match=f"127.0.0.1:{port}"):
            serve_metrics("127.0.0.1", port, None)  # the port is taken
    finally:
        server.shutdown()
        server.server_close()


COUNTING = textwrap.dedent("""
    import sys, time
    from azuraforge.platform.prometheus import LEASE_RENEWALS, WORKERS
    LEASE_RENEWALS.inc(int(sys.argv[1]))
    WORKERS.inc()
    print("counted", flush=True)
    time.sleep(60)
""")
SCRAPE = "from azuraforge.platform.prometheus import exposition; print(exposition()[0].decode())"


def test_processes_sharing_a_folder_add_up_and_a_killed_one_is_no_longer_alive(
    tmp_path: Path,
) -> None:
    env = {**os.environ, MULTIPROCESS_VARIABLE: str(tmp_path)}
    counting = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTING, str(n)], env=env, stdout=subprocess.PIPE, text=True
        )
        for n in (2, 3)
    ]
    try:
        for process in counting:
            assert process.stdout is not None and process.stdout.readline() == "counted\n"
        both = _scraped(env)
        assert "azuraforge_lease_renewals_total 5.0" in both
        assert "azuraforge_workers 2.0" in both
        counting[0].send_signal(signal.SIGKILL)
        counting[0].wait()
        one_left = _scraped(env)
        assert "azuraforge_lease_renewals_total 5.0" in one_left  # counts outlive their process
        assert "azuraforge_workers 1.0" in one_left
    finally:
        for process in counting:
            process.kill()
            process.wait()


def _scraped(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", SCRAPE], env=env, check=True,
                          capture_output=True, text=True).stdout  # fmt: skip


OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


def documented_metrics() -> dict[str, tuple[str, dict[str, list[str]]]]:
    """Each metric of docs/operations.md's table (What is exported): its type, and its
    labels with the values each is documented to take (``outcome`` (``lost``, ``queued``)),
    none if not listed."""
    table = OPERATIONS.read_text().split("### What is exported")[1].split("\n### ")[0]
    found = {}
    for row in re.findall(r"^\| `(azuraforge_\w+)` \|([^|]+)\|([^|]*)\|", table, re.M):
        name, kind, labels = row
        listed = re.findall(r"`(\w+)`(?: \(([^)]*)\))?", labels)
        values = {label: re.findall(r"`(\w+)`", shown) for label, shown in listed}
        found[name] = (kind.strip(), values)
    return found


def test_a_fresh_serve_exports_every_documented_metric_its_counters_at_zero(
    sqlite_template: Path, tmp_path: Path, serves: list[subprocess.Popen[bytes]]
) -> None:
    """A query of any documented metric finds it from a server's start (0 for a counter
    that has counted nothing yet, and for each documented value of its label), not nothing
    until its first event."""
    documented = documented_metrics()
    assert len(documented) >= 16 and "azuraforge_leases_reaped_total" in documented
    port = free_port()
    serves.append(start_serve(settings_on_copy(sqlite_template, tmp_path), port, "--workers", "0"))
    url = f"http://127.0.0.1:{port}"
    httpx.get(f"{url}/api/v1/health")  # a request answered: its route's series
    families = list(text_string_to_metric_families(httpx.get(f"{url}/metrics").text))
    exported = {f.name for f in families} | {s.name for f in families for s in f.samples}
    assert not set(documented) - exported, (
        f"documented, not exported: {set(documented) - exported}"
    )
    counters = {name: values for name, (kind, values) in documented.items() if kind == "counter"}
    for name, labels in counters.items():
        samples = [s for f in families for s in f.samples if s.name == name]
        for label, values in labels.items():
            at = {s.labels[label]: s.value for s in samples}
            assert {v: at.get(v) for v in values} == dict.fromkeys(values, 0.0), name
        if not labels:
            assert [s.value for s in samples] == [0.0], name


def test_the_label_values_counted_from_the_start_are_those_the_platform_counts() -> None:
    assert prometheus.CHANGE_KINDS == shadow.CHANGE_KINDS
    assert prometheus.REAP_OUTCOMES == (states.LOST, states.QUEUED)
