"""No route reads or writes across projects. Project ``default`` (alpha) holds runs, a
registered model with aliases and their history, prediction jobs, studies and a stream; the
admin of project ``beta`` calls every operation of the live OpenAPI and every WebSocket route
with alpha's ids and names. Each operation that names an object is 404 (as for one that does
not exist), each other one shows none of alpha's, and alpha's rows are as they were. Then
every operation but the public ones is 401 without a credential and with a revoked token, and
every one that changes something 403 for a viewer. The
routes come from the OpenAPI: a new one is covered without editing this test (one whose body
is not listed below is sent an empty one: a new route naming an object then answers 422, not
404, and fails here until it is given a valid body). The routes covered and their answers are
written to ``build/isolation.md``. Alpha's admin reads every operation first: a service made
on a first request must not keep her project for the next callers (the study service did).

No job reads or writes across projects either: a job of every kind declared (a new kind is
covered, or fails here until alpha is given a job of it) is copied from alpha's into beta,
naming alpha's objects, ids and data file, and run by a worker; each ends as the same job
with names and ids nobody has (alpha's as absent from beta as those; a trial fails not found),
and alpha's rows are as they were. Beta's prediction job of its own ``sharedname/1`` predicts
with beta's version, not alpha's (a prediction job read the registry as project ``default``
saw it)."""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from azuraforge.apps import get_pipeline
from azuraforge.learn.datasets import write_csv
from azuraforge.platform.api.access import api_routes, declared_permission
from azuraforge.platform.api.app import API_PREFIX, create_app
from azuraforge.platform.blobs import BlobCache, open_blobs
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.kinds import job_kinds
from azuraforge.platform.jobs.supervision import Supervision
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services import predictions, registry
from azuraforge.platform.services.chat import proposed_from
from azuraforge.platform.services.fine_tunes import FINE_TUNE
from azuraforge.platform.services.nights import NIGHT
from azuraforge.platform.services.registry import ModelRef, load_version
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.services.streams.retrain import RetrainConfig
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, ExperimentRecord, ModelVersionRecord, Store
from azuraforge.platform.store.chat import TurnWrite
from azuraforge.platform.store.states import COMPLETED, FAILED, RETRAIN
from azuraforge.stream.online import pack_examples
from azuraforge.testing.long_jobs import KIND as SOAK
from azuraforge.testing.streams import write_shifted_csv
from tests.platform.api.test_schemathesis import MODEL, Seeded, seed
from tests.platform.fixtures import user_headers
from tests.platform.registry.conftest import (
    Trained,
    beijing_rows,
    completed_run,
    mirror,
    trained,
)

ALPHA, BETA = "default", "beta"
REPORT = Path(__file__).resolve().parents[3] / "build" / "isolation.md"
JOB_REPORT = REPORT.with_name("isolation-jobs.md")
BODIES: dict[str, dict[str, Any]] = {
    "POST /runs": {"pipeline": "sleeper", "config": {"steps": 1}},
    "POST /runs/{experiment_id}/end": {"status": "completed"},
    "PUT /runs/{experiment_id}/tags/{key}": {"value": "beta's"},
    "PATCH /runs/{experiment_id}": {"name": "renamed by beta", "notes": "beta's"},
    "POST /studies": {
        "pipeline": "sleeper", "config": {"sleep": 0}, "n_trials": 1, "objective": "loss",
        "space": {"steps": {"type": "int", "low": 1, "high": 2}},
    },
    "POST /models": {"name": "beta-model"},
    "POST /models/{name}/versions": {"experiment": "weather-0"},
    "PUT /models/{name}/aliases/{alias}": {"version": 1},
    "POST /models/{name}/aliases/{alias}/rollback": {},
    "POST /models/{ref}/predict": {"rows": [{"year": 2014, "month": 1, "day": 1}]},
    "POST /models/{ref}/predictions": {"inputs": "rows.csv"},
    "POST /streams": {"config": {"source": "momentum.csv", "max_events": 50}},
    "POST /streams/{stream_id}/triggers": {"action": "retrain", "reason": "from beta"},
    "POST /streams/{stream_id}/predict": {"closes": [1.0] * 30},
    "POST /auth/login": {"name": "bo", "password": "not bo's password"},
    "POST /auth/project": {"project": ALPHA},
    "POST /auth/projects": {"project": "gamma"},
    "PUT /access/members/{user}": {"role": "viewer"},
    "POST /access/tokens": {"name": "beta's laptop"},
    "POST /chat": {"message": "beta's question", "conversation_id": 1},
    "POST /chat/turns/{turn_id}/feedback": {"verdict": "bad"},
    "PATCH /assist/examples/{example_id}": {"status": "rejected", "output": "beta's"},
    "POST /assist/fine-tunes": {"expert": "python"},
}  # fmt: skip
"""A valid body of each operation that takes one, naming alpha's objects where it names any
(a run by name, the model's versions, alpha itself)."""
BODIES |= {  # the run routes' deprecated paths, checked as theirs: the same routes
    key.replace(" /runs", " /experiments", 1): body
    for key, body in BODIES.items()
    if " /runs" in key
}

QUERIES = {
    "GET /compare": {"experiments": "1,2"},
    "GET /streams/{stream_id}/explain": {"start": 0, "end": 100},
}
"""Query parameters an operation needs, naming alpha's runs."""
ALPHA_TURN = TurnWrite(
    message="alpha's question", answer="alpha's answer", intent="general_chat",
    expert="general", adapter=None, backend="echo", reason="alpha's", first_token_ms=1.0,
    tokens_per_s=10.0, tokens_in=3, tokens_out=3,
)  # fmt: skip
"""A turn of a conversation of alpha's admin."""
OWN_NAMES = {"PUT /data/{file}": 422}
"""Operations that name something of the caller's project by a name alpha's has too, and
their answer to beta: an upload goes to beta's own data folder (``{}`` is no CSV: 422),
never alpha's."""


@pytest.fixture
def seeded(
    settings: Settings,
    store: Store,
    sleeper: object,
    trained: list[Trained],
    beijing_rows: list[dict[str, Any]],
) -> Seeded:
    """Alpha's runs, registered model with aliases, prediction jobs and studies."""
    return seed(store, settings, trained, beijing_rows)


def test_no_operation_reads_or_writes_another_projects_objects(
    settings: Settings, store: Store, seeded: Seeded
) -> None:
    write_shifted_csv(settings.data_dir / "momentum.csv", 600, 300, seed=2)
    stream = start_stream(store, LocalTransport(), settings, {"source": "momentum.csv"})
    store.create_project(BETA)
    bo = user_headers(store, "bo", "admin", project=BETA)
    ana = user_headers(store, "ana", "admin", project=ALPHA)  # her token's prefix: alpha's
    alpha_token = ana["Authorization"].split("_")[1]
    talk = store.create_conversation("ana", "alpha's talk", project=ALPHA)
    said = store.add_chat_turn(talk.id, "ana", ALPHA_TURN, project=ALPHA)
    # The memory in a SQLite file whatever the store (the machine's PostgreSQL has no
    # pgvector): which rows a caller reaches is the service's partition, on either.
    memory_file = settings.home / "memory.db"
    app = create_app(settings.model_copy(update={"assist_memory_url": f"sqlite:///{memory_file}"}),
                     store=store)  # fmt: skip
    memory = app.state.chat.memory.of(ALPHA, "ana")
    memory.remember("alpha's memory", {"conversation": talk.id})
    example = store.propose_example(proposed_from(said, "alpha's failure"), project=ALPHA)
    values = {
        "experiment_id": seeded.ids[0], "study_id": seeded.studies[0], "stream_id": stream.id,
        "name": MODEL, "ref": MODEL, "version": str(seeded.versions[0]),
        "alias": "champion", "job_id": seeded.predictions[0], "path": seeded.files[0],
        "user": "nobody", "prefix": alpha_token, "file": "momentum.csv", "key": "team",
        "conversation_id": talk.id, "turn_id": said.id,
        "memory_id": memory.recent(1)[0].id, "example_id": example.id,
    }  # fmt: skip
    alpha_file = (settings.data_dir / "momentum.csv").read_bytes()
    alpha = _alpha(store)
    markers = [json.dumps(name) for name in [*alpha["names"], "alpha's memory", "alpha's failure"]]
    covered: list[tuple[str, int]] = []
    with TestClient(app, headers=bo) as client:
        spec = client.get("/openapi.json").json()
        for key, path, method in _operations(spec):  # alpha's admin reads first: nothing made
            if method == "GET":  # on a first request may keep her project for later callers
                client.get(_filled(path, values), headers=ana, params=QUERIES.get(key))
        for key, path, method in _operations(spec):
            response = client.request(
                method, _filled(path, values), json=BODIES.get(key, {}) if _takes_body(
                    spec, path, method) else None, params=QUERIES.get(key),
            )  # fmt: skip
            covered.append((key, response.status_code))
            if "{" in path:
                expected = OWN_NAMES.get(key, 404)
                assert response.status_code == expected, (key, response.text)
            else:
                assert not any(m in response.text for m in markers), (key, response.text)
                assert not set(_run_ids(response)) & set(alpha["runs"]), (key, response.text)
        assert _alpha(store) == alpha  # nothing of alpha's changed
        assert [m.text for m in memory.recent(10)] == ["alpha's memory"]
        assert (settings.data_dir / "momentum.csv").read_bytes() == alpha_file
        covered += _websockets(client, app, values, store)
        _refused_without_the_right_credential(client, spec, values, store)
    operations = {key for key, _, _ in _operations(spec)}
    assert operations <= {key for key, _ in covered} and len(operations) > 50
    _write_report(covered)


def test_no_job_reads_or_writes_another_projects_objects(
    settings: Settings,
    store: Store,
    seeded: Seeded,
    trained: list[Trained],
    beijing_rows: list[dict[str, Any]],
) -> None:
    jobs = _alpha_jobs(store, settings, seeded)
    assert set(job_kinds()) <= set(jobs), "give alpha a job of the new kind in _alpha_jobs"
    store.create_project(BETA)
    alpha, worker = _alpha(store), Worker(settings, store)
    names, ended = [*alpha["names"], SOAK_CSV], {}
    for kind, job in jobs.items():
        ended[kind] = _ended_in_beta(worker, store, settings, job)
        nowhere = _named_by_nobody(job, names)
        again = _ended_in_beta(worker, store, settings, nowhere)  # as absent as nobody's
        assert ended[kind] == _named_back(again, names, _ids(job.config)), kind
        if job.study_id is not None:  # a trial of alpha's study
            assert ended[kind][0] == FAILED, ended[kind]
            assert re.match(r"\w*NotFoundError: ", ended[kind][1]), ended[kind]
    assert _alpha(store) == alpha  # nothing of alpha's changed
    _predicts_with_its_own_model(store, settings, worker, trained[1], beijing_rows)
    _write_job_report(ended)


DATASET = "btc-hourly"
"""The source of alpha's stream: a registered dataset, which every project reads."""
SOAK_CSV = "soak.csv"
"""The file of alpha's data folder that alpha's ``stream-soak`` job reads."""
NOBODY = "-of-nobody"
"""What a name of alpha's becomes in a job naming objects nobody has."""
UNUSED = 10**9
"""Added to an id in a job naming objects nobody has (no row has such an id)."""
ID_KEY = re.compile(r"(^|_)(id|experiment|run|stream|study|job)$")
"""The config keys whose whole numbers are ids of rows (a retrain's ``stream``, a
prediction's ``version_id``)."""


def _alpha_jobs(store: Store, settings: Settings, seeded: Seeded) -> dict[str, ExperimentRecord]:
    """A job of alpha's of each kind the platform and the tests' plugin declare, by kind."""
    (trial, *_) = store.list_trial_runs(seeded.studies[1])
    examples = [({"x": float(i % 3)}, i % 2 == 0) for i in range(40)]
    stream = start_stream(store, LocalTransport(), settings, {"source": DATASET, "max_events": 50})
    retrain = RetrainConfig(stream=stream.id, learner="logreg-adam", epochs=2,
                            until_event=39, outcomes=pack_examples(examples, ["x"]))  # fmt: skip
    write_shifted_csv(settings.data_dir / SOAK_CSV, 20, 10)
    soak = {"csv": SOAK_CSV, "target": "close", "steps": 3, "max_restarts": 0}
    made = [
        stream,
        store.create_experiment(RETRAIN, retrain.model_dump(), kind=RETRAIN),
        store.create_experiment("countdown", {"steps": 2}, kind="countdown"),
        store.create_experiment(SOAK, soak, kind=SOAK),
        store.create_experiment("my-script", {"lr": 0.1}, kind="external", idle_limit=600),
        store.create_experiment(FINE_TUNE, {"expert": "python"}, kind=FINE_TUNE),
        store.create_experiment(NIGHT, {"since": 0.0, "until": time.time()}, kind=NIGHT),
    ]
    ids = [seeded.ids[0], trial.id, seeded.predictions[0], *(job.id for job in made)]
    return {job.kind: job for job in map(store.get_experiment, ids)}


def _ended_in_beta(
    worker: Worker, store: Store, settings: Settings, job: ExperimentRecord
) -> tuple[str, str, Any]:
    """How a copy of ``job`` in beta (its config, study and trial; a prediction's inputs are
    a key its config names) ended once a worker ran it: its status, error (its own id as
    ``<job>``) and result."""
    copy = store.create_experiment(
        job.pipeline, job.config, project=BETA, kind=job.kind, study_id=job.study_id,
        trial_number=job.trial_number, requeue_lost=job.requeue_lost,
    )  # fmt: skip
    worker.run_one(copy.id)
    done = store.get_experiment(copy.id)
    return done.status, (done.error or "").replace(f"{copy.id}", "<job>"), done.result


def _named_by_nobody(job: ExperimentRecord, names: list[str]) -> ExperimentRecord:
    """``job`` with each of alpha's names in its config made one nobody has, and each id
    (under a key :data:`ID_KEY` matches) one no row has (the same job when it names none)."""
    return replace(job, config=_renamed(job.config, {name: name + NOBODY for name in names}))


def _renamed(value: Any, names: dict[str, str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _renamed(item, names, k) for k, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, names, key) for item in value]
    if _is_id(key, value):
        return value + UNUSED
    return names.get(value, value) if isinstance(value, str) else value


def _is_id(key: str, value: Any) -> bool:
    return bool(ID_KEY.search(key)) and type(value) is int


def _ids(value: Any, key: str = "") -> list[int]:
    """The ids in a job's config that :func:`_named_by_nobody` changes."""
    if isinstance(value, dict):
        return [i for k, item in value.items() for i in _ids(item, k)]
    if isinstance(value, list):
        return [i for item in value for i in _ids(item, key)]
    return [value] if _is_id(key, value) else []


def _named_back(
    ended: tuple[str, str, Any], names: list[str], ids: list[int]
) -> tuple[str, str, Any]:
    """What a job :func:`_named_by_nobody` ended with, its names and ids of nobody's given
    back as alpha's."""
    text = json.dumps(ended)
    for name in names:
        text = text.replace(name + NOBODY, name)
    for number in ids:
        text = re.sub(rf"\b{number + UNUSED}\b", str(number), text)
    status, error, result = json.loads(text)
    return status, error, result


def _predicts_with_its_own_model(
    store: Store, settings: Settings, worker: Worker, model: Trained, rows: list[dict[str, Any]]
) -> None:
    """Beta's ``sharedname/1``, trained from another seed than alpha's, is the one beta's
    prediction job of ``sharedname/1`` predicts with."""
    run = completed_run(store, settings, model, "beta-weather", project=BETA)
    store.create_model(MODEL, project=BETA)
    blobs = open_blobs(settings)
    ours = registry.register_version(store, blobs, MODEL, run.id, project=BETA)
    job = predictions.submit_prediction(
        store, LocalTransport(), blobs, ModelRef(MODEL, version=1), rows=rows[:16],
        project=BETA, data_folder=DataFolder.of(settings.data_dir, BETA),
    )  # fmt: skip
    assert worker.run_one(job.id) == Supervision(COMPLETED)
    predicted = blobs.get_bytes(f"runs/{job.id}/{predictions.PREDICTIONS_FILE}").decode()
    inputs = settings.home / "inputs.csv"
    blobs.get_file(f"runs/{job.id}/{predictions.INPUTS_FILE}", inputs)
    cache = BlobCache(blobs, settings.cache_dir)
    assert predicted.splitlines() == _predicted(cache, ours, inputs)
    alphas = store.get_version(MODEL, 1, project=ALPHA)
    assert predicted.splitlines() != _predicted(cache, alphas, inputs)


def _predicted(cache: BlobCache, version: ModelVersionRecord, inputs: Path) -> list[str]:
    """The lines of what ``version`` predicts from the rows of ``inputs``, as a job writes them."""
    rows = predictions.rows_from_file(inputs, header=True)
    columns = get_pipeline(version.pipeline)().predict_rows(load_version(cache, version), rows)
    written = io.StringIO()
    write_csv(written, columns)
    return written.getvalue().splitlines()


def _refused_without_the_right_credential(
    client: TestClient, spec: dict[str, Any], values: dict[str, Any], store: Store
) -> None:
    """Every operation but the public ones is 401 without a credential (or with a revoked
    token); every one whose route needs the write or manage permission is 403 for a viewer
    of the project."""
    permissions = _permissions(client.app)
    viewer = user_headers(store, "vi", "viewer", project=ALPHA)
    revoked = user_headers(store, "re", "admin", project=ALPHA)
    store.revoke_token(revoked["Authorization"].split("_")[1])
    for key, path, method in _operations(spec):
        operation = spec["paths"][path][method.lower()]
        if "security" not in operation:
            continue  # public: signing in, the login link, signing out
        body = BODIES.get(key, {}) if _takes_body(spec, path, method) else None
        url, query = _filled(path, values), QUERIES.get(key)
        for headers in ({"Authorization": ""}, revoked):
            refused = client.request(method, url, json=body, params=query, headers=headers)
            assert refused.status_code == 401, (key, refused.text)
        if permissions[method, path] in ("write", "manage"):
            asked = client.request(method, url, json=body, params=query, headers=viewer)
            assert asked.status_code == 403, (key, asked.text)


def _permissions(app: Any) -> dict[tuple[str, str], str | None]:
    """Each operation's declared permission, by method and path as the OpenAPI names it."""
    return {
        (method, route.path_format): declared_permission(route)
        for route in api_routes(app)
        for method in route.methods or ()
    }


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(key, path, method)`` of each operation under the API's prefix but the health
    check, in the OpenAPI's order (``key``: ``METHOD /path``, the prefix and ``:path``
    dropped)."""
    found = []
    for path, methods in spec["paths"].items():
        short = re.sub(r":path}", "}", path.removeprefix(API_PREFIX))
        if short != "/health":
            found += [(f"{m.upper()} {short}", path, m.upper()) for m in methods]
    return found


def _takes_body(spec: dict[str, Any], path: str, method: str) -> bool:
    return "requestBody" in spec["paths"][path][method.lower()]


def _filled(path: str, values: dict[str, Any]) -> str:
    return re.sub(r"{(\w+)(?::path)?}", lambda m: str(values[m[1]]), path)


RUN_KEYS = ("experiment_id", "source_experiment_id", "run_id")


def _run_ids(response: Any) -> list[int]:
    """The run ids an answer names (under :data:`RUN_KEYS`, or a run's ``id``)."""
    try:
        data = response.json()
    except ValueError:
        return []
    found, pending = [], [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found += [v for k, v in item.items() if k in RUN_KEYS]
            found += [item["id"]] if {"pipeline", "progress", "id"} <= item.keys() else []
            pending += list(item.values())
        elif isinstance(item, list):
            pending += item
    return found


def _websockets(
    client: TestClient, app: Any, values: dict[str, Any], store: Store
) -> list[tuple[str, int]]:
    """Each WebSocket route: a run of alpha's is closed 4404; the project's stream shows
    beta's runs only (a run of alpha's queued first, then one of beta's)."""
    answers = []
    for route in api_routes(app):
        if route.methods:
            continue
        key = f"WS {route.path_format.removeprefix(API_PREFIX)}"
        if "{" in route.path_format:
            path = _filled(route.path_format, values)
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                client.websocket_connect(path) as ws,
            ):
                ws.receive_json()
            assert closed.value.code == 4404, key
            answers.append((key, closed.value.code))
        else:
            with client.websocket_connect(route.path_format) as socket:
                store.create_experiment("sleeper", {}, project=ALPHA)
                theirs = store.create_experiment("sleeper", {}, project=BETA)
                first = socket.receive_json()
            assert first["experiment_id"] == theirs.id, key
            answers.append((key, 101))
    return answers


def _alpha(store: Store) -> dict[str, Any]:
    """What alpha holds, as the test compares it before and after."""
    runs = store.list_experiments(ExperimentQuery(project=ALPHA, limit=500)).items
    studies, _ = store.list_studies(project=ALPHA)
    versions, _ = store.list_versions(MODEL, project=ALPHA)
    moves, _ = store.list_alias_moves(MODEL, "champion", project=ALPHA)
    return {
        "runs": [r.id for r in runs],
        "statuses": [(r.status, r.cancel_requested_at) for r in runs],
        "names": [r.name for r in runs] + [s.name for s in studies] + [MODEL],
        "studies": [(s.id, s.status) for s in studies],
        "trials": [
            (t.number, t.state, t.value) for s in studies for t in store.list_trial_rows(s)
        ],
        "versions": [v.version for v in versions],
        "moves": len(moves),
        "triggers": [len(store.list_triggers(r.id)) for r in runs if r.kind == "stream"],
        "chat": [
            (t.id, t.answer, t.verdict)
            for c in store.list_conversations("ana", project=ALPHA)[0]
            for t in store.list_chat_turns(c.id, "ana", project=ALPHA)
        ],
    }


def _write_report(covered: list[tuple[str, int]]) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    rows = "\n".join(f"| `{key}` | {status} |" for key, status in covered)
    REPORT.write_text(
        "# Cross-project requests (tests/platform/api/test_isolation.py)\n\n"
        f"The admin of project beta, with project alpha's ids: {len(covered)} routes, none "
        "of alpha's objects read or changed.\n\n| route | answer |\n|---|---:|\n" + rows + "\n"
    )


def _write_job_report(ended: dict[str, tuple[str, str, Any]]) -> None:
    JOB_REPORT.parent.mkdir(exist_ok=True)
    rows = "\n".join(
        f"| `{kind}` | {status} | {error} |" for kind, (status, error, _) in ended.items()
    )
    JOB_REPORT.write_text(
        "# Cross-project jobs (tests/platform/api/test_isolation.py)\n\n"
        f"A job of each of the {len(ended)} kinds, copied from alpha's into beta with "
        "alpha's names and ids, run by a worker.\n\n| kind | status | error |\n|---|---|---|\n"
        + rows
        + "\n"
    )


__all__ = ["beijing_rows", "mirror", "trained"]  # the registry tests' fixtures, used here too
