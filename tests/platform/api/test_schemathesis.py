"""Schemathesis over the API's own OpenAPI (``/openapi.json`` of the app), on SQLite and
PostgreSQL: each HTTP operation gets a bounded, seeded set of valid and invalid requests, and
every response must be no 5xx, a documented status and content type, a body matching its
declared schema, and, for a 4xx, our ``{"error": {"code", "message"}}`` body.

The store is seeded first (a completed run with metrics, logs and a file; a failed run; a
running one; two queued), and valid requests draw path ids and artifact paths from those rows
as often as at random, so routes with ids read real rows, not only 404s (the test checks that
every operation answered 2xx at least once); DELETE runs last. The WebSocket routes are not
in OpenAPI; ``routes/test_events.py`` covers them. Same seed, same requests, every run.

Schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) needs a fixture-built
app but breaks on pytest 9.2 (it sets ``Function._nodeid``), so each operation runs here as a
Hypothesis test over ``APIOperation.as_strategy``, the API schemathesis documents for that.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from azuraforge.platform.api.app import create_app
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

EXAMPLES = 25
"""Requests per operation and mode (valid, invalid): ~400 requests, ~10 s per database."""

CONFIG = schemathesis.Config.from_dict(
    {"seed": 20240917, "generation": {"max-examples": EXAMPLES, "deterministic": True}}
)
HYPOTHESIS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # A failure is reported as found: shrinking a request that crashes the app takes minutes.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)


@dataclass(frozen=True)
class Seeded:
    """Ids of the seeded runs and the files of the completed one."""

    ids: list[int]
    files: list[str]


def seed(store: Store, settings: Settings) -> Seeded:
    """A completed run (metrics, logs, ``report.md``), a failed one, a running one (leased,
    never finished) and two queued."""
    finished = []
    for config in ({"steps": 4, "sleep": 0}, {"steps": 4, "sleep": 0, "fail_at": 3}):
        record = store.create_experiment("sleeper", config)
        lease = store.claim(record.id, "schemathesis-seed", 60.0)
        assert lease is not None
        execute(store, lease, settings)
        finished.append(record.id)
    running = store.create_experiment("sleeper", {"steps": 4})
    assert store.claim(running.id, "schemathesis-seed", 600.0) is not None
    queued = [store.create_experiment("sleeper", {"steps": n}).id for n in (1, 2)]
    assert [store.get_experiment(i).status for i in finished] == ["completed", "failed"]
    files = [a.path for a in store.list_artifacts(finished[0])]
    assert files == ["report.md"]
    return Seeded(ids=[*finished, running.id, *queued], files=files)


def hooks(seeded: Seeded) -> dict[str, Callable[..., st.SearchStrategy[Any]]]:
    """Hooks for valid requests: half those with an id get a seeded id (and file), half the
    submissions name the test pipeline with a valid config (a random name is a 404), half the
    comparisons name seeded runs."""

    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any]]:
        if not path_parameters or "experiment_id" not in path_parameters:
            return st.just(path_parameters or {})
        real = {"experiment_id": st.sampled_from(seeded.ids)}
        if "path" in path_parameters:
            real["path"] = st.sampled_from(seeded.files)
        return st.one_of(st.just(path_parameters), st.fixed_dictionaries(real))

    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not (isinstance(body, dict) and "pipeline" in body):
            return st.just(body)
        steps = st.integers(min_value=1, max_value=3)
        config = st.fixed_dictionaries({}, optional={"steps": steps, "sleep": st.just(0)})
        grid = st.fixed_dictionaries({"steps": st.lists(steps, min_size=1, max_size=3)})
        optional = {"config": config, "grid": grid}
        if isinstance(body.get("name"), str):
            optional["name"] = st.just(body["name"])  # a random name, often taken: 409
        sleeper = st.fixed_dictionaries({"pipeline": st.just("sleeper")}, optional=optional)
        return st.one_of(st.just(body), sleeper)

    def flatmap_query(
        context: schemathesis.HookContext, query: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if context.operation is None or not context.operation.path.endswith("/compare"):
            return st.just(query)
        chosen = st.lists(st.sampled_from(seeded.ids), min_size=1, max_size=len(seeded.ids))
        real = chosen.map(lambda ids: {"experiments": ",".join(map(str, ids))})
        return st.one_of(st.just(query), real)

    return {
        "flatmap_path_parameters": flatmap_path_parameters,
        "flatmap_body": flatmap_body,
        "flatmap_query": flatmap_query,
    }


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


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_body,
]


def fuzz(strategy: st.SearchStrategy[schemathesis.Case[Any]], statuses: set[int]) -> None:
    """Send ``strategy``'s requests, check each response, collect the statuses seen."""

    @hypothesis.given(case=strategy)
    @HYPOTHESIS
    def requests_conform(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses.add(response.status_code)

    requests_conform()


def test_every_operation_answers_as_its_schema_says(
    settings: Settings, store: Store, sleeper: object
) -> None:
    seeded = seed(store, settings)
    app = create_app(settings, store=store)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    for name, hook in hooks(seeded).items():
        schema.hook(name)(hook)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the app's own OpenAPI names an operation it cannot describe
        operations.append(result.ok())
    # DELETE last: a delete (of a seeded run too) must not leave the others only 404s.
    operations.sort(key=lambda operation: operation.method.lower() == "delete")
    failures, succeeded = [], set()
    for operation in operations:
        strategies = {"valid": operation.as_strategy(GenerationMode.POSITIVE, hooks=schema.hooks)}
        if any(operation.iter_parameters()) or operation.body:
            strategies["invalid"] = operation.as_strategy(GenerationMode.NEGATIVE)
        for mode, strategy in strategies.items():
            statuses: set[int] = set()
            try:
                fuzz(strategy, statuses)
            except (Exception, FailureGroup) as e:  # a FailureGroup is a BaseExceptionGroup
                shown = "".join(traceback.format_exception_only(e)).strip()
                failures.append(f"{operation.label} ({mode} requests): {shown}")
            if mode == "valid" and any(200 <= code < 300 for code in statuses):
                succeeded.add(operation.label)
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
    # Every operation, those with an id too, answered a valid request with 2xx at least once.
    assert succeeded == {operation.label for operation in operations}
