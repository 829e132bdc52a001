"""``/streams``: start a stream, list and read it while a worker runs it, stop one; a bad
config is 422 naming the field, another job's id is 404."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from azuraforge.errors import NotFoundError
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.streams import serving as serving_module
from azuraforge.platform.services.streams.alerts import AlertKeeper
from azuraforge.platform.services.streams.loop import TURBULENT
from azuraforge.platform.services.streams.readings import SavedLearner
from azuraforge.platform.services.streams.registry import register_changes
from azuraforge.platform.services.streams.serving import FRESH_SECONDS, StreamServer
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord, Store
from azuraforge.stream.backtest import backtest, periods_per_year
from azuraforge.testing.streams import shifted_prices, write_shifted_csv
from tests.platform.fixtures import running_stream, scores, user_headers
from tests.platform.jobs.conftest import BTC, btc_with_text_closes, shared_head

CONFIG = {"source": "btc-hourly", "max_events": 600, "checkpoint_every": 200, "drift": None}


def test_a_stream_started_runs_and_reads_back(
    client: TestClient, settings: Settings, store: Store, real_data: object
) -> None:
    created = client.post("/api/v1/streams", json={"config": CONFIG, "name": "btc"})
    assert created.status_code == 201, created.text
    stream = created.json()
    assert (stream["name"], stream["status"], stream["source"]) == ("btc", "queued", "btc-hourly")
    assert stream["learner"] == "logreg-adam" and stream["config"]["horizon"] == 1
    listed = client.get("/api/v1/streams").json()
    assert [s["id"] for s in listed["data"]] == [stream["id"]] and listed["total"] == 1
    Worker(settings, store).run_next()
    done = client.get(f"/api/v1/streams/{stream['id']}").json()
    assert (done["status"], done["events"], done["scored"]) == ("completed", 600, 600 - 24 - 1)
    assert 0 < done["scores"]["champion/accuracy"] < 1
    assert "always up/accuracy" in done["scores"] and "always up/log_loss" not in done["scores"]
    assert done["restarts"] == 0 and done["restart_history"] == []
    standing = client.get(f"/api/v1/streams/{stream['id']}/candidates").json()
    assert standing["ended"] is True and standing["roles"]["champion"] == "logreg-adam-1"
    assert done["lag"] is None and done["events_per_second"] > 0  # lag: while it runs
    assert 0 <= done["turbulent"] <= 1 and TURBULENT not in done["scores"]
    keys = f"events,{TURBULENT}"
    curves = client.get(f"/api/v1/runs/{stream['id']}/metrics?keys={keys}").json()
    assert curves["metrics"]["events"]["steps"] == [200, 400, 600]
    assert curves["metrics"][TURBULENT]["steps"] == [200, 400, 600]  # the regime's bands
    assert all(0 <= share <= 1 for share in curves["metrics"][TURBULENT]["values"])
    whole = client.get(f"/api/v1/streams/{stream['id']}/scores").json()["models"]
    assert whole["logreg-adam-1"]["predictions"] == 575
    assert whole["always up"]["log_loss"] is None and whole["logreg-adam-1"]["log_loss"] < 1
    champion = done["scores"]["champion/accuracy"]
    assert whole["logreg-adam-1"]["accuracy"] == pytest.approx(champion)
    window = client.get(f"/api/v1/streams/{stream['id']}/scores?start=100&end=300").json()
    assert {m["predictions"] for m in window["models"].values()} == {200}
    assert window["buy_and_hold"]["steps"] == window["models"]["always up"]["trading"]["steps"]
    always = window["models"]["always up"]  # long at every step: buy and hold
    assert always["trading"] == window["buy_and_hold"] and always["trading"]["exposure"] == 1.0
    # The list names the best rule, and gives what trading the champion returned beside buy
    # and hold: as the scores of its rows say (no promotion here: the champion is one model).
    (row,) = client.get("/api/v1/streams").json()["data"]
    assert row["best_rule"] in {"always up", "same as last", "opposite of last", "majority so far"}
    assert (
        row["scores"][f"{row['best_rule']}/accuracy"]
        == done["scores"][f"{row['best_rule']}/accuracy"]
    )
    trading = client.get(f"/api/v1/streams/{stream['id']}/scores").json()
    champion = trading["models"]["logreg-adam-1"]["trading"]
    assert row["scores"]["champion/return"] == pytest.approx(champion["total_return"], rel=1e-9)
    held = trading["buy_and_hold"]["total_return"]
    assert row["scores"]["champion/buy_and_hold_return"] == pytest.approx(held, rel=1e-9)
    backwards = client.get(f"/api/v1/streams/{stream['id']}/scores?start=300&end=100")
    assert backwards.status_code == 400 and "end (100) must be after start (300)" in backwards.text


def test_a_streams_detail_says_what_its_source_skipped(
    client: TestClient, settings: Settings, store: Store
) -> None:
    btc_with_text_closes(settings, 1000, 200)  # 5 text closes: 0.5 %, under the 1 % allowed
    config = {"source": "btc.csv", "checkpoint_every": 500}
    stream = client.post("/api/v1/streams", json={"config": config}).json()
    assert stream["source_report"] is None and stream["config"]["max_bad_rows"] == 0.01
    Worker(settings, store).run_next()
    done = client.get(f"/api/v1/streams/{stream['id']}").json()
    assert (done["status"], done["events"]) == ("completed", 995)
    found = done["source_report"]
    assert found["skipped"] == {"unparseable": 5, "duplicate": 1} and found["rows"] == 1001
    assert found["banner_lines"] == [1] and found["newest_first"] is True
    lines = found["lines"]
    assert (
        lines[0].startswith("995 events from 1,001 rows, ") and "skipped banner line(s) 1" in lines
    )
    assert any(
        line.startswith("skipped 5 row(s), unparseable: line 3: close is 'n/a'") for line in lines
    )
    assert any(line.startswith("skipped 1 row(s), duplicate: line 1002: ") for line in lines)


def test_a_header_alone_or_a_header_not_in_utf8_is_refused_where_it_enters(
    client: TestClient, settings: Settings
) -> None:
    """Both were accepted: a header alone failed in the worker, one in Latin-1 read as
    garbled names (``cl\ufffdture``)."""
    shared_head(settings, BTC, 2, "header.csv")  # the real export's banner and header alone
    refused = client.post("/api/v1/streams", json={"config": {"source": "header.csv"}})
    assert refused.status_code == 422, refused.text
    (detail,) = refused.json()["error"]["details"]
    assert detail["loc"] == ["config", "source"]
    assert detail["msg"].startswith("header.csv has a header and no row under it: its replay")
    followed = {"source": "header.csv", "follow": True}  # its rows come as they are written
    assert client.post("/api/v1/streams", json={"config": followed}).status_code == 201
    text = shared_head(settings, BTC, 50, "btc.csv").read_text()
    (settings.data_dir / "latin.csv").write_bytes(
        text.replace("close", "clôture").encode("latin-1")
    )
    latin = client.post("/api/v1/streams", json={"config": {"source": "latin.csv"}})
    assert latin.status_code == 422, latin.text
    (detail,) = latin.json()["error"]["details"]
    assert detail["loc"] == ["config", "source"] and detail["msg"].startswith(
        "latin.csv is not a UTF-8 text CSV file: line 2 holds bytes f4 "
    )
    assert str(settings.data_dir) not in latin.text


def test_a_bad_config_is_422_naming_the_field_and_no_server_path(client: TestClient) -> None:
    for config, loc in (
        ({"source": "btc-hourly", "horizon": 0}, ["config", "horizon"]),
        ({"source": "/etc/passwd"}, ["config", "source"]),
        ({"learner": "mlp"}, ["config"]),  # neither a source nor a url
    ):
        refused = client.post("/api/v1/streams", json={"config": config})
        assert refused.status_code == 422, refused.text
        assert [d["loc"] for d in refused.json()["error"]["details"]] == [loc]
        assert "/tmp" not in refused.text and "pytest" not in refused.text
    assert client.get("/api/v1/streams").json()["total"] == 0


def test_stop_ends_a_queued_stream_and_other_jobs_are_not_streams(client: TestClient) -> None:
    stream = client.post("/api/v1/streams", json={"config": CONFIG}).json()
    stopped = client.post(f"/api/v1/streams/{stream['id']}/stop")
    assert stopped.status_code == 202 and stopped.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/streams/{stream['id']}/stop").status_code == 409
    run = client.post("/api/v1/runs", json={"pipeline": "sleeper", "config": {}}).json()
    run_id = run["data"][0]["id"]
    assert client.get(f"/api/v1/streams/{run_id}").status_code == 404
    assert client.post(f"/api/v1/streams/{run_id}/stop").status_code == 404
    schema = client.get("/api/v1/streams/schema").json()
    assert {"source", "url", "learner"} <= set(schema["properties"])


def test_streams_export_as_csv_with_their_filter(client: TestClient) -> None:
    kept = client.post("/api/v1/streams", json={"config": CONFIG, "name": "kept"}).json()
    stopped = client.post("/api/v1/streams", json={"config": CONFIG, "name": "stopped"}).json()
    client.post(f"/api/v1/streams/{stopped['id']}/stop")
    query = {"format": "csv", "status": "queued", "columns": "id,name,status,source,scores"}
    listed = client.get("/api/v1/streams", params=query)
    assert 'filename="streams.csv"' in listed.headers["content-disposition"], listed.text
    assert listed.text.splitlines() == [
        "id,name,status,source,scores", f"{kept['id']},kept,queued,btc-hourly,{{}}"]  # fmt: skip


def test_a_csv_without_the_price_column_is_refused_naming_its_columns(
    client: TestClient, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "prices.csv").write_text(
        "Created by an exchange\ndate,open,last\n2024-01-01,1.0,1.5\n2024-01-02,1.5,1.2\n"
    )
    refused = client.post("/api/v1/streams", json={"config": {"source": "prices.csv"}})
    assert refused.status_code == 422, refused.text
    (detail,) = refused.json()["error"]["details"]
    assert detail["loc"] == ["config", "price_column"]
    assert detail["msg"] == "prices.csv has no column 'close'; its columns: date, open, last"
    config = {"source": "prices.csv", "price_column": "Last"}  # case aside, as the replay reads
    accepted = client.post("/api/v1/streams", json={"config": config})
    assert accepted.status_code == 201 and accepted.json()["config"]["price_column"] == "last"
    (settings.data_dir / "blank.csv").write_text("\n")
    blank = client.post("/api/v1/streams", json={"config": {"source": "blank.csv"}})
    assert blank.status_code == 422 and blank.json()["error"]["details"][0]["loc"] == [
        "config", "source"]  # fmt: skip
    assert str(settings.data_dir) not in blank.text


def test_a_shift_opens_a_candidate_promoted_by_the_test_and_reads_back(
    client: TestClient, settings: Settings, store: Store, blobs: BlobStore
) -> None:
    write_shifted_csv(settings.data_dir / "shift.csv", 6000, 3000, keep=0.8, seed=0)
    config = {"source": "shift.csv", "warm": 200}
    stream = client.post("/api/v1/streams", json={"config": config}).json()
    Worker(settings, store).run_next()
    lineage = client.get(f"/api/v1/streams/{stream['id']}/lineage").json()
    promotions = [c for c in lineage if c["kind"] == "promote"]
    assert promotions, lineage
    assert all(c["evidence"]["evidence"] >= 1 / 0.05 and c["actor"] == "loop" for c in promotions)
    after = [c for c in lineage if c["event"] >= 3000]  # the shift's: drift, candidate, promote
    assert [c["kind"] for c in after[:3]] == ["drift", "candidate", "promote"], lineage
    drift, candidate, promoted = after[:3]
    assert drift["model"] == candidate["other"] == promoted["other"]
    assert candidate["reason"] == "drift" and promoted["model"] == candidate["model"]
    assert promoted["event"] - 3000 < 300  # within a few hundred events of the shift
    done = client.get(f"/api/v1/streams/{stream['id']}").json()
    assert done["scores"]["champion/accuracy"] > done["scores"]["opposite of last/accuracy"]
    standing = client.get(f"/api/v1/streams/{stream['id']}/candidates").json()
    moves = [c for c in lineage if c["kind"] in ("promote", "rollback")]
    assert standing["roles"]["champion"] == moves[-1]["model"] == done["champion"]
    only = client.get(f"/api/v1/streams/{stream['id']}/lineage?kind=promote").json()
    assert only == promotions
    assert register_changes(store, blobs) == len(promotions)
    assert register_changes(store, blobs) == 0  # once
    name = stream["name"]
    versions = client.get(f"/api/v1/models/{name}/versions").json()["data"]
    learners = {v["config"]["learner"]: v for v in versions}
    assert set(learners) == {c["model"] for c in promotions} | {c["other"] for c in promotions}
    shifted = learners[promoted["model"]]
    assert (
        shifted["pipeline"] == "stream"
        and shifted["config"]["learned_to"] == promoted["event"] + 1
    )
    registered = client.get(f"/api/v1/streams/{stream['id']}/lineage?kind=promote").json()
    assert [c["version"] for c in registered] and all(c["version"] for c in registered)
    alias = client.get(f"/api/v1/models/{name}/aliases/champion").json()
    assert alias["version"] == registered[-1]["version"]
    moves = client.get(f"/api/v1/models/{name}/aliases/champion/history").json()
    assert "before its first promotion" in moves["data"][-1]["reason"]
    assert (
        "promote at event" in moves["data"][0]["reason"]
        and "evidence" in moves["data"][0]["reason"]
    )
    prices = shifted_prices(6000, 3000, keep=0.8, seed=0)
    ask = f"/api/v1/streams/{stream['id']}/predict"
    rising = client.post(ask, json={"closes": [*prices[-40:], prices[-1] * 1.01]}).json()
    falling = client.post(ask, json={"closes": [*prices[-40:], prices[-1] * 0.99]}).json()
    assert rising["learner"] == falling["learner"] == standing["roles"]["champion"]
    assert rising["checkpoint_events"] == 6000
    assert rising["probability_up"] < 0.5 < falling["probability_up"]  # it learned reversal
    few = client.post(ask, json={"closes": prices[:10]})
    assert few.status_code == 422 and few.json()["error"]["details"][0]["loc"] == [
        "body",
        "closes",
    ]
    negative = client.post(ask, json={"closes": [*prices[:30], -1.0]})
    assert negative.status_code == 400 and "closes[30] is -1.0" in negative.text
    url = f"/api/v1/streams/{stream['id']}/explain"
    explained = client.get(f"{url}?start=4000&end=6000").json()
    assert explained["learner"] == standing["roles"]["champion"] and explained["examples"] > 1900
    top = explained["importances"][0]
    assert top["feature"] == "return_1" and top["mean"] > 10 * top["spread"] > 0
    assert abs(explained["importances"][-1]["mean"]) < top["mean"] / 10
    before = learners[promoted["other"]]["version"]  # the champion the shift's one replaced
    old = client.get(f"{url}?start=4000&end=6000&version={before}").json()
    assert (old["learner"], old["version"]) == (promoted["other"], before)
    assert old["log_loss"] > explained["log_loss"]  # it learned the world before the shift
    assert client.get(f"{url}?start=0&end=100&version=999").status_code == 404
    both = client.get(f"{url}?start=0&end=100&version={before}&learner=x")
    assert both.status_code == 400 and "a learner or a version, not both" in both.text
    wide = client.get(f"{url}?start=0&end=6000")
    assert wide.status_code == 400 and "1 to 5000 events" in wide.text
    assert client.get(f"{url}?start=0&end=10&learner=gpt-9").status_code == 404
    refused = client.post(
        f"/api/v1/models/{name}@champion/predict", json={"rows": [{"close": 1.0}]}
    )
    assert (
        refused.status_code == 409
        and "a stream's predictions come from the stream" in refused.text
    )


def test_a_forced_bad_champion_is_rolled_back_and_triggers_are_answered(
    client: TestClient, settings: Settings, store: Store, blobs: BlobStore
) -> None:
    write_shifted_csv(settings.data_dir / "momentum.csv", 2000, 10_000, keep=0.8, seed=1)
    config = {"source": "momentum.csv", "drift": None, "max_events": 2000}
    stream = client.post("/api/v1/streams", json={"config": config}).json()
    url = f"/api/v1/streams/{stream['id']}/triggers"
    asked = [
        {"action": "rollback", "reason": "nothing to roll back yet"},
        {"action": "retrain", "learner": "opposite of last", "reason": "try"},
        {"action": "promote", "reason": "forced, on purpose"},
    ]
    ana = user_headers(store, "ana")  # who asked: the caller, never a name sent
    for body in asked:
        assert client.post(url, json=body, headers=ana).status_code == 202
    claimed = client.post(url, json={"action": "checkpoint", "actor": "bo"}, headers=ana)
    assert claimed.status_code == 422 and "actor" in claimed.text
    first = {"roles": {"champion": "logreg-adam-1"}, "kinds": {"logreg-adam-1": "logreg-adam"},
             "tests": {}, "paused": False, "training": None, "ended": False}  # fmt: skip
    assert client.get(f"/api/v1/streams/{stream['id']}/candidates").json() == first
    early = client.post(f"/api/v1/streams/{stream['id']}/predict", json={"closes": [1.0] * 30})
    assert early.status_code == 409 and "no checkpoint yet" in early.text
    stray = client.post(url, json={"action": "promote", "learner": "mlp"})
    assert stray.status_code == 422 and "learner is a retrain's" in stray.text
    Worker(settings, store).run_next()  # takes them at its first event
    answers = client.get(url).json()
    assert [t["status"] for t in answers] == ["refused", "done", "done"]
    assert "rollback is armed only after a promotion" in answers[0]["message"]
    lineage = client.get(f"/api/v1/streams/{stream['id']}/lineage").json()
    assert [c["kind"] for c in lineage] == ["candidate", "promote", "rollback"]
    candidate, promoted, rolled_back = lineage
    assert candidate["model"] == "opposite of last-2" and candidate["actor"] == "ana"
    assert (promoted["actor"], promoted["reason"]) == ("ana", "forced, on purpose")
    assert promoted["trigger_id"] == answers[2]["id"]
    assert rolled_back["actor"] == "loop" and rolled_back["model"] == "logreg-adam-1"
    assert rolled_back["other"] == "opposite of last-2"
    assert rolled_back["evidence"]["evidence"] >= 20
    at_end = client.get(f"/api/v1/streams/{stream['id']}/candidates").json()
    assert at_end == {**first, "ended": True}  # the roles it ended with
    page = client.get(f"/api/v1/streams/{stream['id']}/lineage?after={candidate['id']}&limit=1")
    assert [c["kind"] for c in page.json()] == ["promote"]
    assert register_changes(store, blobs) == 2  # the promotion, then the rollback
    moves = client.get(f"/api/v1/models/{stream['name']}/aliases/champion/history").json()
    to = [(m["from_version"], m["to_version"], m["actor"]) for m in reversed(moves["data"])]
    assert to == [(None, 1, "loop"), (1, 2, "ana"), (2, 1, "loop")]  # logreg-adam-1 is v1
    ended = client.post(url, json={"action": "checkpoint"})
    assert ended.status_code == 409 and "already ended" in ended.text
    bad = client.post(url, json={"action": "explode"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["loc"] == ["body", "action"]


def test_trading_figures_over_a_window_are_a_backtest_of_its_rows(
    client: TestClient, settings: Settings, store: Store
) -> None:
    write_shifted_csv(settings.data_dir / "trend.csv", 1200, 10_000, keep=0.8, seed=2)
    config = {"source": "trend.csv", "horizon": 2, "drift": None}
    stream = client.post("/api/v1/streams", json={"config": config}).json()
    Worker(settings, store).run_next()
    scores = client.get(f"/api/v1/streams/{stream['id']}/scores?start=200&end=1000&cost=0.002")
    found = scores.json()
    prices = shifted_prices(1200, 10_000, keep=0.8, seed=2)
    rows = store.outcome_gains(stream["id"], every=2, start=200, end=1000)["logreg-adam-1"]
    times, probabilities, gains = map(np.array, zip(*rows, strict=True))
    events = (times - times[0]) / 3600 + 200
    assert list(events) == list(range(200, 1000, 2))  # every horizon-th, none overlapping
    expected_gains = [prices[int(e) + 2] / prices[int(e)] - 1 for e in events]
    assert gains == pytest.approx(expected_gains, abs=1e-7)  # the CSV keeps 6 decimals
    long = (probabilities >= 0.5).astype(float)
    expected = backtest("m", gains, long, cost=0.002, periods_per_year=periods_per_year(times))
    ours = found["models"]["logreg-adam-1"]
    assert ours["trading"]["total_return"] == pytest.approx(expected.total_return)
    assert ours["trading"]["sharpe"] == pytest.approx(expected.sharpe)
    assert ours["trading"]["max_drawdown"] == pytest.approx(expected.max_drawdown)
    assert ours["win_rate"] == pytest.approx(float((gains[long == 1] > 0).mean()))
    assert ours["trading"]["total_return"] > found["buy_and_hold"]["total_return"]  # a trend
    equity = found["equity"]["logreg-adam-1"]
    assert equity["times"] == list(times) and len(equity["values"]) == 400  # every step
    assert equity["values"][-1] == pytest.approx(1 + expected.total_return)
    market = found["equity"]["buy and hold"]["values"][-1]
    assert market == pytest.approx(1 + found["buy_and_hold"]["total_return"])
    too_dear = client.get(f"/api/v1/streams/{stream['id']}/scores?cost=0.5")
    assert too_dear.status_code == 422


def test_the_api_lists_a_streams_alerts_and_those_firing(
    store: Store, settings: Settings, client: TestClient
) -> None:
    lease = running_stream(store, settings, alert_accuracy_below=0.55, alert_for=60)
    other = running_stream(store, settings, alert_accuracy_below=0.55)
    for each in (lease, other):
        scores(store, each, 0.40, 200)
    AlertKeeper(store, settings).check()
    mine = client.get(f"/api/v1/streams/{lease.experiment_id}/alerts").json()
    assert [(a["rule"], a["state"], a["stream_id"]) for a in mine] == [
        ("accuracy_below", "pending", lease.experiment_id)
    ]
    firing = client.get("/api/v1/streams/alerts?state=firing").json()
    assert [a["stream_id"] for a in firing] == [other.experiment_id]
    assert client.get("/api/v1/streams/alerts?state=loud").status_code == 422
    assert client.get("/api/v1/streams/999/alerts").status_code == 404


def test_a_stale_champion_answers_while_one_thread_reads_its_checkpoint_again(
    client: TestClient,
    settings: Settings,
    store: Store,
    real_data: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = client.post("/api/v1/streams", json={"config": CONFIG}).json()
    Worker(settings, store).run_next()
    reads: list[int] = []
    real = serving_module.saved_learner

    def counted(found: Store, record: ExperimentRecord) -> SavedLearner:
        reads.append(record.id)
        return real(found, record)

    monkeypatch.setattr(serving_module, "saved_learner", counted)
    server = StreamServer(store)
    first = server.get(stream["id"], DEFAULT_PROJECT)
    assert server.cached(stream["id"], "elsewhere") is None
    time.sleep(FRESH_SECONDS)
    answered = [server.cached(stream["id"], DEFAULT_PROJECT) for _ in range(200)]
    assert answered[0] is first  # the stale one, at once: no request waits for the read
    assert all(a is not None and a.events == first.events for a in answered)
    deadline = time.monotonic() + 10
    while (kept := server.cached(stream["id"], DEFAULT_PROJECT)) is first:
        assert time.monotonic() < deadline, "the champion was not read again"
        time.sleep(0.01)
    assert kept is not None and kept.read_at > first.read_at and kept.name == first.name
    assert reads == [stream["id"], stream["id"]]  # the first read, then one read again
    store.delete_experiment(stream["id"])
    time.sleep(FRESH_SECONDS)
    assert server.cached(stream["id"], DEFAULT_PROJECT) is kept  # while it reads again
    while server.cached(stream["id"], DEFAULT_PROJECT) is not None:  # the read failed
        assert time.monotonic() < deadline + 10, "a deleted stream's champion was kept"
        time.sleep(0.01)
    with pytest.raises(NotFoundError):  # what the next request's own read answers
        server.get(stream["id"], DEFAULT_PROJECT)
