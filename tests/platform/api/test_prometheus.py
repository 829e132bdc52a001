"""``/metrics``: who may read it, requests counted under their route's template, the store's
census, and the label budget held over a busy run of requests (one API for the module: the
counters are the process's, so each test reads what its own requests added)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from azuraforge.platform.api.access import api_routes
from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.prometheus import METHODS, OTHER_ROUTE
from azuraforge.platform.jobs.kinds import job_kinds
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.states import ALL_STATES, QUEUED, RUNNING
from tests.platform.fixtures import admin_headers, install_plugin, settings_on_copy, user_headers

TOKEN = "scrape-" + "7" * 40
LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("10.1.2.3", 50000)
SERIES_BUDGET = 400
"""Most series the busy work below may add to a scrape (its first round: the routes it asks,
each with its statuses and its latency's 16 series; the kinds and statuses of its jobs)."""


@pytest.fixture(scope="module")
def served(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Store]]:
    settings = settings_on_copy(sqlite_template, tmp_path_factory.mktemp("metrics-api"))
    with pytest.MonkeyPatch.context() as patch:
        install_plugin(patch, sleeper_path)
        store = Store(settings.database_url)
        yield settings, store
        store.close()


@pytest.fixture(scope="module")
def api(served: tuple[Settings, Store]) -> Iterator[TestClient]:
    """The API, called from this machine with the admin's token."""
    settings, store = served
    app = create_app(settings, store=store)
    with TestClient(app, headers=admin_headers(store), client=LOOPBACK) as client:
        yield client


def scrape(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def requests_of(samples: dict, route: str) -> float:
    return sum(
        value for (name, labels), value in samples.items()
        if name == "azuraforge_http_requests_total" and dict(labels)["route"] == route
    )  # fmt: skip


def test_without_a_token_only_this_machine_reads_the_metrics(
    api: TestClient, served: tuple[Settings, Store]
) -> None:
    _, store = served
    # Other clients of the module's app, its lifespan run once (by api).
    remote, local = TestClient(api.app, client=ELSEWHERE), TestClient(api.app, client=LOOPBACK)
    refused = remote.get("/metrics", headers=user_headers(store, "pc", "admin"))  # a project's
    assert refused.status_code == 403
    assert "AZURAFORGE_METRICS_TOKEN" in refused.json()["error"]["message"]
    assert local.get("/metrics").status_code == 200  # no credential needed from here
    assert remote.get("/metrics", headers=admin_headers(store)).status_code == 200  # the server's


def test_without_a_token_a_forwarded_scrape_is_refused(served: tuple[Settings, Store]) -> None:
    """A header naming the client, or proxies the server trusts to name it, would make any
    client look local: without a token such a scrape is refused."""
    settings, store = served
    local = TestClient(create_app(settings, store=store), client=LOOPBACK)
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        refused = local.get("/metrics", headers={header: "127.0.0.1"})
        assert refused.status_code == 403, header
    behind = settings.model_copy(update={"trusted_proxies": "*"})
    proxied = TestClient(create_app(behind, store=store), client=LOOPBACK)
    assert proxied.get("/metrics").status_code == 403


def test_with_a_token_every_scrape_must_send_it(served: tuple[Settings, Store]) -> None:
    settings, store = served
    guarded = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    app = create_app(guarded, store=store)
    with TestClient(app, client=ELSEWHERE) as remote:
        local = TestClient(app, client=LOOPBACK)
        for client, headers in [
            (remote, {}),
            (local, {}),  # loopback too: a proxy on the machine would pass for it
            (remote, {"Authorization": "Bearer " + TOKEN[:-1] + "8"}),
            (remote, {"Authorization": TOKEN}),
            (remote, user_headers(store, "pa", "admin")),  # a project's admin, not the server's
        ]:
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert TOKEN not in answer.text
            assert "Bearer <token>" in answer.json()["error"]["message"]
        found = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        by_admin = remote.get("/metrics", headers=admin_headers(store))  # the server's admin
    assert found.status_code == 200 and by_admin.status_code == 200
    assert TOKEN not in found.text


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_a_server_listening_beyond_this_machine_needs_the_token_or_an_admin(
    served: tuple[Settings, Store], host: str
) -> None:
    """A server that listens beyond loopback (``azuraforge serve --host 0.0.0.0``) lets no
    one scrape without a credential, from this machine either: a proxy or a container's port
    on the machine reaches it from a loopback address."""
    settings, store = served
    app = create_app(settings.model_copy(update={"host": host}), store=store)
    local, remote = TestClient(app, client=LOOPBACK), TestClient(app, client=ELSEWHERE)
    for client, headers in [
        (local, {}),
        (remote, {}),
        (local, user_headers(store, "pb", "admin")),  # a project's admin, not the server's
        (local, {"Authorization": "Bearer af_" + "0" * 12 + "_" + "x" * 43}),
    ]:
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        message = refused.json()["error"]["message"]
        assert "AZURAFORGE_METRICS_TOKEN" in message and "server admin" in message
    assert remote.get("/metrics", headers=admin_headers(store)).status_code == 200
    assert local.get("/metrics", headers=admin_headers(store)).status_code == 200


def test_requests_are_counted_by_route_template_method_and_status(api: TestClient) -> None:
    before = scrape(api)
    for experiment_id in (901, 902, 903):
        assert api.get(f"/api/v1/runs/{experiment_id}").status_code == 404
    assert api.get("/api/v1/no/such/route/8675309").status_code == 404
    anonymous = TestClient(api.app, client=LOOPBACK)
    assert anonymous.get("/api/v1/runs/904").status_code == 401
    after = scrape(api)
    template = "/api/v1/runs/{experiment_id}"
    key = ("azuraforge_http_requests_total",
           (("method", "GET"), ("route", template), ("status", "404")))  # fmt: skip
    assert after[key] - before.get(key, 0) == 3
    refused = (key[0], (("method", "GET"), ("route", template), ("status", "401")))
    assert after[refused] - before.get(refused, 0) == 1
    assert requests_of(after, OTHER_ROUTE) - requests_of(before, OTHER_ROUTE) == 1
    timed = ("azuraforge_http_request_duration_seconds_count",
             (("method", "GET"), ("route", template)))  # fmt: skip
    assert after[timed] - before.get(timed, 0) == 4
    assert not any("901" in value or "8675309" in value
                   for _, labels in after for _, value in labels)  # fmt: skip


def test_a_run_route_at_its_deprecated_path_is_counted_under_that_paths_template(
    api: TestClient,
) -> None:
    before = scrape(api)
    assert api.get("/api/v1/experiments/905").status_code == 404
    after = scrape(api)
    for template, count in (("/api/v1/experiments/{experiment_id}", 1),
                            ("/api/v1/runs/{experiment_id}", 0)):  # fmt: skip
        key = ("azuraforge_http_requests_total",
               (("method", "GET"), ("route", template), ("status", "404")))  # fmt: skip
        assert after.get(key, 0) - before.get(key, 0) == count, template


def test_the_store_census_counts_jobs_of_every_project(
    api: TestClient, served: tuple[Settings, Store]
) -> None:
    _, store = served
    before = scrape(api)
    store.create_project("elsewhere")
    for project in ("default", "elsewhere"):
        store.create_experiment("sleeper", {"steps": 1}, project=project)
    running = store.create_experiment("sleeper", {"steps": 1}, status=RUNNING)
    after = scrape(api)
    queued = ("azuraforge_jobs", (("kind", "run"), ("status", QUEUED)))
    assert after[queued] - before.get(queued, 0) == 2
    busy = ("azuraforge_jobs", (("kind", "run"), ("status", RUNNING)))
    assert after[busy] - before.get(busy, 0) == 1
    age = after[("azuraforge_queue_oldest_age_seconds", (("kind", "run"),))]
    assert 0 <= age < 60
    assert after[("azuraforge_stream_lag_seconds", ())] == 0  # no stream runs
    assert running.id > 0


def test_metrics_are_not_in_the_openapi(api: TestClient) -> None:
    assert "/metrics" not in api.get("/openapi.json").json()["paths"]


def test_a_busy_run_stays_within_the_label_budget(
    api: TestClient, served: tuple[Settings, Store]
) -> None:
    """Twice the same busy work by other users, on other runs, names and files: the second
    adds no series (the counters are the process's, so the first may add some the suite's
    other API tests in this process did not), and no label holds an id, a name or a path."""
    _, store = served
    before = scrape(api)
    busy(api, store, [f"user{n}" for n in range(5)])
    first = scrape(api)
    users = [f"other{n}" for n in range(5)]
    busy(api, store, users)
    second = scrape(api)
    ours = [(name, dict(labels)) for name, labels in second if name.startswith("azuraforge_")]
    assert set(second) == set(first)
    assert len(set(first) - set(before)) <= SERIES_BUDGET, len(set(first) - set(before))
    routes = {route.path_format for route in api_routes(api.app)} | {OTHER_ROUTE}
    values = {"method": METHODS | {"other"}, "kind": set(job_kinds()), "status": ALL_STATES}
    for name, labels in ours:
        for label, value in labels.items():
            if label == "status" and name.startswith("azuraforge_http"):
                assert re.fullmatch(r"[1-5][0-9][0-9]", value), (name, value)
            elif label == "route":  # this app's, or a template of another test's app
                assert value in routes or not re.search(r"/[0-9]+(/|$)", value), value
            elif label in values:
                assert value in values[label], (name, label, value)
            else:
                assert label in BOUNDED, (name, label)
        assert not any(user in str(labels) for user in users), (name, labels)


BOUNDED = {"le", "outcome", "change", "direction", "result", "version"}
"""The other labels: a histogram's buckets, and values the code names (metrics.py)."""


def busy(api: TestClient, store: Store, users: list[str]) -> None:
    """Runs submitted, read and cancelled by each of ``users``, files and models asked for
    that do not exist, paths no route takes, a method nobody serves."""
    for name in users:
        headers = user_headers(store, name)
        for n in range(4):
            made = api.post("/api/v1/runs", headers=headers,
                            json={"pipeline": "sleeper", "config": {"steps": 1},
                                  "name": f"run-of-{name}-{n}"})  # fmt: skip
            assert made.status_code == 201, made.text
            run = made.json()["data"][0]["id"]
            api.get(f"/api/v1/runs/{run}", headers=headers)
            api.get(f"/api/v1/runs/{run}/metrics", headers=headers)
            api.post(f"/api/v1/runs/{run}/cancel", headers=headers)
        api.get(f"/api/v1/data/{name}.csv", headers=headers)
        api.get(f"/api/v1/models/model-of-{name}", headers=headers)
        api.get(f"/{name}/secret.txt")
        api.request("BREW", f"/api/v1/runs/{name}")
