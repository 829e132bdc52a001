"""Schemathesis over the API's live OpenAPI (``/openapi.json`` of the app), on SQLite and
PostgreSQL, with every check of the installed schemathesis (all but ``max_response_time``,
which measures the machine) and every phase: the OpenAPI's examples, the coverage of each
schema's boundaries, fuzzing, and stateful sequences that follow the links between
operations (create a run, then read, cancel and delete it). Every response must be no 5xx,
a documented status, content type, headers and body; a valid request accepted and an
invalid one refused; a created resource found, a deleted one gone; and a 4xx carries our
``{"error": {"code", "message"}}`` body.

The store is seeded first: runs (a completed one with metrics, logs and a file; a failed
one; a running one; two queued), a registered model of two tiny real weather runs (three
versions, the last one with no alias; ``champion`` moved once, ``challenger``), a completed
prediction job and a queued one, a completed study (two trials run) and a running one. Valid
requests draw path ids, model names, references, versions, aliases, job and study ids from
those rows as often as at random, and bodies that name them (the test pipeline, the weather
runs, real rows of the weather data to predict from), so routes read and change real rows,
not only 404s. An invalid request keeps its violation: the hooks replace only what its
schema accepts. The WebSocket routes are not in OpenAPI; ``routes/test_events.py`` covers
them. Same seed, same requests, every run.

Doubled on PostgreSQL (``on_both_databases``, one class per database): values the schemas
accept meet each dialect's own limits there (integer ranges, lengths, JSON that may not hold
NaN), which SQLite does not enforce, and a value one refuses must still be a 4xx. There the
phases that send such values run (the examples and the valid boundaries of every schema,
where the largest integers and longest texts are); a request the schemas refuse is refused
before any route reads the database, and random fuzzing and the stateful sequences, which
follow links between operations and send nothing a dialect reads differently, run on SQLite
alone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import strategies as st
from optuna.storages._rdb import models as optuna_models
from schemathesis.checks import CHECKS, CheckContext
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import text

from azuraforge.platform.api.app import API_PREFIX, create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.services import predictions, registry
from azuraforge.platform.services.registry import ModelRef
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import DEFAULT_PROJECT, Store
from azuraforge.platform.store.states import COMPLETED
from tests.platform.fixtures import admin_headers
from tests.platform.registry.conftest import (
    REGISTRY_TABLES,
    SEQUENCE,
    Trained,
    beijing_rows,
    completed_run,
    mirror,
    trained,
)

pytestmark = [pytest.mark.on_both_databases, pytest.mark.slow]

__all__ = ["beijing_rows", "mirror", "trained"]  # the registry tests' fixtures, used here too

EXAMPLES = 3
"""Requests per operation and mode (valid, invalid) of the fuzzing phase, and scenarios of
the stateful one, on SQLite: random requests beside the coverage phase, which sends every
boundary of each schema (~5,200 requests). Every check still runs at 3 (the test asserts it);
6 took 7 % more CPU for the same checks (docs/benchmarks.md, The test suite, 2026-11-29)."""
UNCHECKED = {"max_response_time"}
"""Not a conformance check: a response time measures the machine."""
DATA_DEPENDENT: dict[tuple[str, str], str] = {
    ("POST", "/runs"): "a file setting must name a file of the data folder; a "
    "pipeline's own rules across settings and a grid's 1,000 runs at most are its code's",
    ("POST", "/studies"): "as for /runs, and a search entry's values of its setting's "
    "type, a range's low at most its high, a log range above 0, the grid sampler's 100,000 "
    "points at most",
    ("POST", "/models/{ref}/predict"): "the rows must hold the columns of the model's own "
    "training data, which the version the reference names decides",
    ("POST", "/models/{ref}/predictions"): "as for predict, and an inputs file must be one "
    "of the data folder",
    ("PUT", "/data/{file}"): "the body is a file, any bytes to a schema; the server keeps it "
    "only if it reads as a CSV (UTF-8, a header of two columns or more, a row)",
}
"""Operations whose valid requests may be refused (422) for what a static schema cannot
declare: what is stored (files, a model's columns) or a pipeline's own code. Only their
positive-data check takes 422 as an answer; every other check, and that check's other
statuses, hold for them as for all."""
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
"""Schemathesis' answers to a valid request (a 5xx is the not-a-server-error check's)."""


def config(dialect: str, headers: dict[str, str]) -> schemathesis.Config:
    """Every phase on SQLite; on PostgreSQL the examples and the coverage of every schema's
    valid boundaries (where a dialect's own limits are met), not the random fuzzing nor the
    stateful sequences; each request with ``headers`` (the server admin's token)."""
    on_sqlite = dialect == "sqlite"
    return schemathesis.Config.from_dict({
        "seed": 20240917,
        "headers": headers,
        "phases": {"fuzzing": {"enabled": on_sqlite}, "stateful": {"enabled": on_sqlite}},
        "generation": {
            "mode": "all" if on_sqlite else "positive",
            "max-examples": EXAMPLES,
            "deterministic": True,
            # The API refuses NUL in any text (PostgreSQL cannot store it; checked_input),
            # as its OpenAPI's description says; a pattern on every string would say it
            # hundreds of times. routes/test_runs.py sends NUL everywhere.
            "allow-x00": False,
        },
        "operations": [
            {
                "include-method": method,
                "include-path": API_PREFIX + path,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 422]}},
            }
            for method, path in DATA_DEPENDENT
        ] + [
            {
                # An alias removed keeps its history of moves (the removal the last of them):
                # an audit, not a use after free.
                "include-method": "GET",
                "include-path": API_PREFIX + "/models/{name}/aliases/{alias}/history",
                "checks": {"use_after_free": {"enabled": False}},
            },
            {
                # A change of the server's live settings applies to every request after it
                # (a 1-byte max_request_bytes refuses them all): routes/test_server_settings.py
                # covers it, values right and wrong.
                "include-method": "PATCH",
                "include-path": API_PREFIX + "/server/settings",
                "enabled": False,
            },
        ],
    })  # fmt: skip


MODEL = "weather"
ALIASES = ["champion", "challenger"]
STEPS = {"steps": {"type": "int", "low": 1, "high": 3}}
"""The search space of the seeded studies and of the studies requests create."""
SEED_WORKER = "schemathesis-seed"


@dataclass(frozen=True)
class Seeded:
    """What the seed made, for valid requests to name."""

    ids: list[int]
    files: list[str]
    versions: list[int]
    """Versions of :data:`MODEL`: aliases point to all but the last (a DELETE can remove it)."""
    sources: list[int | str]
    """The weather runs the versions came from, by id and by name."""
    predictions: list[int]
    studies: list[int]
    rows: list[dict[str, Any]]

    @property
    def refs(self) -> list[str]:
        """References to :data:`MODEL`: latest, by alias, by version."""
        return [
            MODEL,
            *(f"{MODEL}@{a}" for a in ALIASES),
            *(f"{MODEL}/{v}" for v in self.versions),
        ]


def execute_now(store: Store, settings: Settings, experiment_id: int) -> str:
    """Run a queued job here, as a worker does; its final status."""
    lease = store.claim(experiment_id, SEED_WORKER, 60.0)
    assert lease is not None
    return execute(store, lease, settings)


def seed_runs(store: Store, settings: Settings) -> tuple[list[int], list[str]]:
    """A completed run (metrics, logs, ``report.md``), a failed one, a running one (leased,
    never finished) and two queued: their ids, and the completed one's files."""
    finished = [
        store.create_experiment("sleeper", config).id
        for config in ({"steps": 4, "sleep": 0}, {"steps": 4, "sleep": 0, "fail_at": 3})
    ]
    assert [execute_now(store, settings, i) for i in finished] == [COMPLETED, "failed"]
    running = store.create_experiment("sleeper", {"steps": 4})
    assert store.claim(running.id, SEED_WORKER, 600.0) is not None
    queued = [store.create_experiment("sleeper", {"steps": n}).id for n in (1, 2)]
    files = [a.path for a in store.list_artifacts(finished[0])]
    assert files == ["report.md"]
    return [*finished, running.id, *queued], files


def seed_registry(
    store: Store, settings: Settings, trained: list[Trained]
) -> tuple[list[int], list[int | str]]:
    """:data:`MODEL` with versions 1 and 2 from two weather runs and 3 from the first again;
    ``champion`` moved from 1 to 2 (a history to roll back), ``challenger`` at 1, none at 3.
    The version numbers, and the runs' ids and names."""
    runs = [completed_run(store, settings, t, f"weather-{i}") for i, t in enumerate(trained)]
    store.create_model(MODEL, description="seeded")
    versions = [
        registry.register_version(store, open_blobs(settings), MODEL, run.id, actor="seed").version
        for run in (*runs, runs[0])
    ]
    for alias, version in (("champion", 1), ("champion", 2), ("challenger", 1)):
        registry.move_alias(store, MODEL, alias, version, actor="seed", reason="seeded")
    return versions, [*(run.id for run in runs), *(run.name for run in runs)]


def seed_predictions(store: Store, settings: Settings, rows: list[dict[str, Any]]) -> list[int]:
    """A completed prediction job of ``MODEL@champion`` and a queued one."""
    ref = ModelRef(MODEL, alias="champion")
    blobs, folder = open_blobs(settings), DataFolder.of(settings.data_dir, DEFAULT_PROJECT)
    jobs = [
        predictions.submit_prediction(
            store, LocalTransport(), blobs, ref, rows=rows, data_folder=folder
        ).id
        for _ in range(2)
    ]
    assert execute_now(store, settings, jobs[0]) == COMPLETED
    return jobs


def seed_studies(store: Store, settings: Settings) -> list[int]:
    """A completed study (its two trials run) and a running one (its trial queued)."""
    service = StudyService(store, LocalTransport())
    try:
        done = service.create(study_of(n_trials=2, name="seeded-completed"))
        for run in store.list_trial_runs(done.id):
            assert execute_now(store, settings, run.id) == COMPLETED
        assert service.advance(done.id).status == COMPLETED
        running = service.create(study_of(n_trials=2, name="seeded-running"))
    finally:
        service.close()
    return [done.id, running.id]


def study_of(n_trials: int, name: str) -> StudyDefinition:
    """A random search over the test pipeline's steps, all its trials queued at once."""
    return StudyDefinition(
        pipeline="sleeper", space=STEPS, base_config={"sleep": 0}, n_trials=n_trials,
        parallelism=n_trials, sampler="random", pruner="none", seed=0, name=name,
    )  # fmt: skip


def seed(
    store: Store, settings: Settings, trained: list[Trained], rows: list[dict[str, Any]]
) -> Seeded:
    """Runs, a registered model with aliases and their history, prediction jobs, studies."""
    ids, files = seed_runs(store, settings)
    versions, sources = seed_registry(store, settings, trained)
    return Seeded(
        ids=ids,
        files=files,
        versions=versions,
        sources=sources,
        predictions=seed_predictions(store, settings, rows[: 2 * SEQUENCE]),
        studies=seed_studies(store, settings),
        rows=rows,
    )


def hooks(seeded: Seeded) -> dict[str, Callable[..., st.SearchStrategy[Any]]]:
    """Hooks for valid requests: half those with path parameters name seeded rows, half the
    bodies of the operations in :func:`real_bodies` are real ones, half the comparisons name
    seeded runs or a seeded study."""
    pools: dict[str, list[Any]] = {
        "experiment_id": seeded.ids, "path": seeded.files, "name": [MODEL],
        "version": seeded.versions, "alias": ALIASES, "ref": seeded.refs,
        "job_id": seeded.predictions, "study_id": seeded.studies,
    }  # fmt: skip
    # A version or alias (GET …/versions/{version}) is text; a version to delete, a number.
    named_versions = [*map(str, seeded.versions), *ALIASES]
    bodies = real_bodies(seeded)

    def real_value(
        operation: schemathesis.APIOperation, key: str, generated: Any
    ) -> st.SearchStrategy[Any]:
        named = key == "version" and isinstance(generated, str)
        pool = named_versions if named else pools.get(key)
        valid = [v for v in pool or () if declared(operation, key).is_valid(v)]
        return st.sampled_from(valid) if valid else st.just(generated)

    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any]]:
        if not path_parameters or context.operation is None:
            return st.just(path_parameters or {})
        operation = context.operation
        if not all(declared(operation, k).is_valid(v) for k, v in path_parameters.items()):
            return st.just(path_parameters)  # a negative case keeps its violation
        real = {key: real_value(operation, key, value) for key, value in path_parameters.items()}
        return st.one_of(st.just(path_parameters), st.fixed_dictionaries(real))

    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        real = bodies.get(label(context))
        # Only a body its schema accepts is replaced: a negative case keeps its violation.
        if real is None or not isinstance(body, dict) or not valid_body(context, body):
            return st.just(body)
        return st.one_of(st.just(body), real(body))

    def flatmap_query(
        context: schemathesis.HookContext, query: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        compared = label(context) == f"GET {API_PREFIX}/compare"
        if not compared or not valid_query(context, query or {}):
            return st.just(query)  # a negative case keeps its violation
        chosen = st.lists(st.sampled_from(seeded.ids), min_size=1, max_size=len(seeded.ids))
        runs = chosen.map(lambda ids: {"experiments": ",".join(map(str, ids))})
        study = st.sampled_from(seeded.studies).map(lambda i: {"study": i})
        selection = st.one_of(runs, study)
        return st.one_of(
            st.just(query), selection.map(lambda s: {**(query or {}), "selection": s})
        )

    return {
        "flatmap_path_parameters": flatmap_path_parameters,
        "flatmap_body": flatmap_body,
        "flatmap_query": flatmap_query,
    }


def declared(
    operation: schemathesis.APIOperation, name: str
) -> jsonschema_rs.Draft202012Validator:
    """A validator of path parameter ``name`` of ``operation`` (a seeded value may not fit
    it: ``weather/3`` is a reference, not the model name a listing takes)."""
    (parameter,) = (p for p in operation.path_parameters if p.name == name)
    return jsonschema_rs.Draft202012Validator(parameter.validation_schema)


def valid_body(context: schemathesis.HookContext, body: Any) -> bool:
    """Whether ``body`` is one the operation's body schema accepts."""
    assert context.operation is not None
    (parameter,) = list(context.operation.body)[:1]
    return jsonschema_rs.Draft202012Validator(parameter.validation_schema).is_valid(body)


def valid_query(context: schemathesis.HookContext, query: dict[str, Any]) -> bool:
    """Whether ``query`` is one the operation's query parameters accept."""
    assert context.operation is not None
    return all(
        jsonschema_rs.Draft202012Validator(p.validation_schema).is_valid(query[p.name])
        if p.name in query
        else not p.is_required
        for p in context.operation.query
    )


def label(context: schemathesis.HookContext) -> str | None:
    """``METHOD /path`` of the hook's operation."""
    return None if context.operation is None else context.operation.label


def real_bodies(seeded: Seeded) -> dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Any]]]:
    """Valid bodies by operation, made from the generated one: submissions of the test
    pipeline, new model names, the weather runs to register, aliases to aliased versions
    (the last version stays free to delete), real rows to predict from, studies of the test
    pipeline."""
    windows = st.integers(SEQUENCE, 3 * SEQUENCE).map(lambda n: seeded.rows[:n])
    rows = st.fixed_dictionaries({"rows": windows}, optional={"horizon": st.just(1)})
    study = st.fixed_dictionaries(
        {"pipeline": st.just("sleeper"), "space": st.just(STEPS), "config": st.just({"sleep": 0})},
        optional={
            "n_trials": st.integers(1, 3),
            "sampler": st.sampled_from(["tpe", "random", "grid"]),
            "pruner": st.sampled_from(["median", "none"]),
        },
    )
    models = f"{API_PREFIX}/models"
    return {
        f"POST {API_PREFIX}/runs": submission,
        f"POST {models}": lambda _: st.fixed_dictionaries(
            {"name": st.from_regex(r"[a-z][a-z0-9_.-]{0,15}", fullmatch=True)}
        ),
        f"POST {models}/{{name}}/versions": lambda _: st.fixed_dictionaries(
            {"experiment": st.sampled_from(seeded.sources)}
        ),
        f"PUT {models}/{{name}}/aliases/{{alias}}": lambda _: st.fixed_dictionaries(
            {"version": st.sampled_from(seeded.versions[:-1])},
            optional={"reason": st.just("fuzz")},
        ),
        f"POST {models}/{{ref}}/predict": lambda _: rows,
        f"POST {models}/{{ref}}/predictions": lambda _: rows,
        f"POST {API_PREFIX}/studies": lambda _: study,
    }


def submission(body: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A submission of the test pipeline with a valid config or grid (a random pipeline is a
    404), keeping the generated name (a random name, often taken: 409)."""
    steps = st.integers(min_value=1, max_value=3)
    config = st.fixed_dictionaries({}, optional={"steps": steps, "sleep": st.just(0)})
    grid = st.fixed_dictionaries({"steps": st.lists(steps, min_size=1, max_size=3)})
    optional = {"config": config, "grid": grid}
    if isinstance(body.get("name"), str):
        optional["name"] = st.just(body["name"])
    return st.fixed_dictionaries({"pipeline": st.just("sleeper")}, optional=optional)


@schemathesis.check
def error_body(ctx: CheckContext, response: schemathesis.Response, case: Any) -> None:
    """A 4xx carries ``{"error": {"code": "...", "message": "<not empty>", ...}}``."""
    if not 400 <= response.status_code < 500:
        return
    try:
        error = response.json()["error"]
        ok = all(isinstance(error[k], str) and error[k].strip() for k in ("code", "message"))
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise AssertionError(
            f"{response.status_code} without our error body "
            f'{{"error": {{"code": ..., "message": ...}}}}: {response.text[:300]!r}'
        )


@dataclass
class Findings:
    """What a run of schemathesis found, and which checks it made."""

    failures: dict[tuple[str, str], str]
    errors: list[str]
    checks: set[str] = field(default_factory=set)

    def report(self) -> str:
        """Each distinct failure with a request that reproduces it, then each error."""
        shown = [f"{at} | {title}\n{detail}" for (at, title), detail in self.failures.items()]
        return "\n\n".join([*sorted(shown), *self.errors])


def run_all_phases(schema: Any) -> Findings:
    """Run every phase and check of schemathesis over ``schema``."""
    found = Findings(failures={}, errors=[])
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            found.errors.append(f"{getattr(event, 'label', 'schema')}: {event.info.message}")
        if isinstance(event, events.ScenarioFinished):
            record(found, event.recorder)
    return found


def record(found: Findings, recorder: Any) -> None:
    """Add a scenario's checks and failures to ``found``."""
    for nodes in recorder.checks.values():
        for node in nodes:
            found.checks.add(node.name)
            if node.status == Status.FAILURE and node.failure_info is not None:
                failure = node.failure_info.failure
                key = (recorder.label, f"{node.name}: {failure.title}")
                detail = f"{failure.message}\n{node.failure_info.code_sample}"
                found.failures.setdefault(key, detail[:1500])


def forget_models_and_studies(store: Store) -> None:
    """Empty the registry and the studies (runs with them), remove the projects requests
    made (with what is theirs: a test of the same database lists the projects) and drop
    Optuna's tables."""
    tables = ", ".join((*REGISTRY_TABLES, "tuning_studies"))
    with store.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(text("DELETE FROM projects WHERE name <> :kept"),
                           {"kept": DEFAULT_PROJECT})  # fmt: skip
    optuna_models.BaseModel.metadata.drop_all(store.engine)


@pytest.fixture
def fresh_store(store: Store) -> Iterator[Store]:
    """The test's store with no models, studies or projects of its own. The session's
    PostgreSQL database keeps them between tests (its emptying truncates the run tables
    only); Optuna's tables are dropped at the end too, as the study tests leave the
    database."""
    if store.dialect == "postgresql":
        forget_models_and_studies(store)
    yield store
    if store.dialect == "postgresql":
        forget_models_and_studies(store)


class EveryOperation:
    """The test, once per database, each in a class of its own: pytest-xdist (``--dist
    loadscope``) gives each class its own worker, where one module's two runs (some 90 and
    40 s of CPU) would queue on one."""

    def test_every_operation_answers_as_its_schema_says(
        self,
        settings: Settings,
        fresh_store: Store,
        sleeper: object,
        trained: list[Trained],
        beijing_rows: list[dict[str, Any]],
        request: pytest.FixtureRequest,
    ) -> None:
        seeded = seed(fresh_store, settings, trained, beijing_rows)
        echo = AssistBackend(name="echo", kind="echo")  # the chat answers, as once declared
        memory = _memory_url(request, fresh_store)
        update = {"assist_backends": [echo], "assist_memory_url": memory}
        app = create_app(settings.model_copy(update=update), store=fresh_store)
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", app, config=config(fresh_store.dialect, admin_headers(fresh_store))
        ).exclude(deprecated=True)  # the run routes again, at their former paths
        for name, hook in hooks(seeded).items():
            schema.hook(name)(hook)
        try:
            found = run_all_phases(schema)
        finally:  # the model server's alias refresher and the study service's connections
            app.state.models.close()
            if getattr(app.state, "studies", None) is not None:
                app.state.studies.close()
        assert not found.failures and not found.errors, found.report()
        # Every check of the installed schemathesis ran, ours too (the stateful ones on SQLite).
        every = {check.__name__ for check in CHECKS.get_all()} - UNCHECKED
        assert found.checks == every if fresh_store.dialect == "sqlite" else found.checks <= every


def _memory_url(request: pytest.FixtureRequest, store: Store) -> str:
    """The chat memory's database: beside a SQLite store its default; beside a PostgreSQL
    one, pgvector on a private server (the machine's has none), or without pgserver a file
    (a missing test extra must not skip the whole run)."""
    if store.dialect == "sqlite":
        return ""
    if importlib.util.find_spec("pgserver") is None:
        return f"sqlite:///{request.getfixturevalue('tmp_path') / 'memory.db'}"
    return str(request.getfixturevalue("pgvector_url"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
class TestOnSQLite(EveryOperation):
    """Every phase."""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
class TestOnPostgreSQL(EveryOperation):
    """The examples and every schema's boundaries."""
