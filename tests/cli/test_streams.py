"""``azuraforge stream start|list|show|stop|schema`` against a real ``azuraforge serve`` (SQLite
store, one worker): what a user types and reads, and the exit codes."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.settings import Settings
from tests.platform.jobs.conftest import BTC, btc_with_text_closes, shared_head
from tests.platform.servers import bearer, free_port, kill_group, start_serve

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, real_data: object) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cli-streams")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'af.db'}",
                        poll_interval=0.05, flush_interval=0.02)  # fmt: skip
    btc_with_text_closes(settings, 1000, 200)  # 5 text closes: 0.5 %, under the 1 % allowed
    shared_head(settings, BTC, 2, "header.csv")  # the export's banner and header alone
    text = (settings.data_dir / "btc.csv").read_text().replace("close", "clôture")
    (settings.data_dir / "latin.csv").write_bytes(text.encode("latin-1"))
    port = free_port()
    serve: subprocess.Popen[bytes] = start_serve(settings, port, "--workers", "1")
    yield f"http://127.0.0.1:{port}"
    kill_group(serve)


def cli(api: str, *args: str):
    return runner.invoke(app, [*args, "--api-url", api], terminal_width=200)


def ended(api: str, stream_id: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = httpx.get(f"{api}/api/v1/streams/{stream_id}", headers=bearer()).json()
        if found["status"] not in ("queued", "running"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"stream {stream_id} did not end within 30 s")


def table_cells(output: str) -> list[str]:
    """The cells of a table's one row, each of its wrapped lines joined."""
    lines = [line.split("│")[1:-1] for line in output.splitlines() if line.startswith("│")]
    columns = zip(*lines, strict=True)
    return [" ".join(part.strip() for part in column if part.strip()) for column in columns]


def test_start_list_and_show_a_stream(api: str) -> None:
    started = cli(api, "stream", "start", "btc-hourly", "--set", "max_events=800",
                  "--set", "learner=logreg-sgd", "--set", "retrain_every=500",
                  "--name", "btc-cli")  # fmt: skip
    assert started.exit_code == 0, started.output
    (stream_id,) = map(int, re.findall(r"stream (\d+) \(btc-cli\): queued", started.output))
    assert ended(api, stream_id)["status"] == "completed"
    listed = cli(api, "stream", "list")
    assert listed.exit_code == 0 and "btc-cli" in listed.output and "completed" in listed.output
    # The best rule named; what trading the champion returned beside buy and hold.
    accuracy, traded = table_cells(listed.output)[4:6]
    rules = "always up|same as last|opposite of last|majority so far"
    assert re.fullmatch(rf"\d+\.\d\d% vs ({rules}) \d+\.\d\d%", accuracy), listed.output
    assert re.fullmatch(r"[+-]\d+\.\d% vs [+-]\d+\.\d%", traded), listed.output
    shown = cli(api, "stream", "show", str(stream_id))
    assert shown.exit_code == 0, shown.output
    shown_line = "completed, logreg-sgd on btc-hourly, 800 events, 775 predictions scored"
    assert shown_line in " ".join(shown.output.split())
    assert "opposite of last" in shown.output and "recent log-loss" in shown.output
    # Its candidate (opened at event 500, in shadow at 800) no longer is: it ended with it.
    said = " ".join(shown.output.split())
    assert re.search(r"return trading its champion vs buy and hold: [+-][\d.]+% vs [+-]", said)
    assert re.search(r"champion \S+ at its end; candidate \S+ .*ended with the stream", said)
    (rule,) = [line for line in shown.output.splitlines() if "opposite of last" in line]
    assert rule.count("—") == 2  # a trivial rule gives no probabilities: no log-loss


def test_show_says_what_the_source_skipped(api: str) -> None:
    started = cli(api, "stream", "start", "btc.csv", "--set", "checkpoint_every=500")
    (stream_id,) = map(int, re.findall(r"stream (\d+) ", started.output))
    assert ended(api, stream_id)["status"] == "completed"
    shown = cli(api, "stream", "show", str(stream_id))
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.output.split())
    assert "source: 995 events from 1,001 rows, " in said and "skipped banner line(s) 1" in said
    assert "skipped 5 row(s), unparseable: line 3: close is 'n/a', expected a number" in said
    assert "skipped 1 row(s), duplicate: line 1002: " in said


def test_stop_and_bad_input_say_what_happened(api: str) -> None:
    started = cli(api, "stream", "start", "btc-hourly", "--set", "speed=36000")  # 10 a second
    (stream_id,) = map(int, re.findall(r"stream (\d+) ", started.output))
    stopped = cli(api, "stream", "stop", str(stream_id))
    assert stopped.exit_code == 0 and f"stream {stream_id}: " in stopped.output
    assert ended(api, stream_id)["status"] == "cancelled"
    again = cli(api, "stream", "stop", str(stream_id))
    assert again.exit_code == 1 and "already ended as cancelled; nothing to stop" in again.output
    bad = cli(api, "stream", "start", "btc-hourly", "--set", "horizon=0")
    assert (
        bad.exit_code == 2 and "horizon: Input should be greater than or equal to 1" in bad.output
    )
    outside = cli(api, "stream", "start", "../secret.csv")
    assert outside.exit_code == 2 and "is not a file of the server's data folder" in outside.output
    assert cli(api, "stream", "show", "999").exit_code == 2
    alone = cli(api, "stream", "start", "header.csv")  # refused here, not in the worker
    assert alone.exit_code == 2 and len(alone.output.strip().splitlines()) == 1, alone.output
    assert "header.csv has a header and no row under it" in alone.output
    latin = cli(api, "stream", "start", "latin.csv")
    assert latin.exit_code == 2 and len(latin.output.strip().splitlines()) == 1, latin.output
    assert "latin.csv is not a UTF-8 text CSV file: line 2 holds bytes f4" in latin.output
    assert "price_column" in cli(api, "stream", "schema").output


def test_trigger_promote_rollback_and_lineage_on_a_running_stream(api: str) -> None:
    started = cli(api, "stream", "start", "btc-hourly", "--set", "speed=360000",  # 100 a second
                  "--set", "drift=null", "--set", "max_events=3000")  # fmt: skip
    (stream_id,) = map(int, re.findall(r"stream (\d+) ", started.output))
    sid = str(stream_id)
    refused = cli(api, "stream", "rollback", sid, "--reason", "too early")
    assert refused.exit_code == 1, refused.output
    refusal = " ".join(refused.output.split())
    assert "rollback refused at event" in refusal and "internal error" not in refusal
    assert "rollback is armed only after a promotion" in refusal
    retrained = cli(api, "stream", "trigger", sid, "retrain", "--learner", "mlp",
                    "--reason", "try an mlp")  # fmt: skip
    assert retrained.exit_code == 0 and "retrain done at event" in retrained.output
    assert "candidate mlp-2" in retrained.output
    promoted = cli(api, "stream", "promote", sid, "--reason", "by hand")
    assert promoted.exit_code == 0 and "promote done" in promoted.output, promoted.output
    shown = cli(api, "stream", "show", sid)
    assert "champion mlp-2; rollback armed to logreg-adam-1" in " ".join(shown.output.split())
    back = cli(api, "stream", "rollback", sid, "--reason", "changed my mind")
    assert back.exit_code == 0 and "rollback done" in back.output, back.output
    lineage = cli(api, "stream", "lineage", sid)
    assert lineage.exit_code == 0
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lineage.output.splitlines()]
    rows = [(row, cells[i + 1]) for i, row in enumerate(cells[:-1]) if row and row[0]]
    for change, other, why in (
        ("candidate mlp-2", "vs logreg-adam-1", "try an mlp"),
        ("promote mlp-2", "vs logreg-adam-1", "by hand"),
        ("rollback logreg-adam-1", "vs mlp-2", "changed my mind"),
    ):  # each change with its model, on the next line what it was set against, and why
        assert any((row[1], below[1], row[3]) == (change, other, why) for row, below in rows), (
            lineage.output
        )
    last = " ".join(cli(api, "stream", "show", sid).output.split())
    assert "rollback logreg-adam-1 vs mlp-2 by admin: changed my mind" in last
    only = cli(api, "stream", "lineage", sid, "--kind", "rollback")
    assert "promote" not in only.output and "rollback" in only.output
    bad = cli(api, "stream", "trigger", sid, "explode")
    assert bad.exit_code == 2 and "action" in bad.output
    assert cli(api, "stream", "stop", sid).exit_code == 0
