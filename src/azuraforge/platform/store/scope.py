"""A store seen from one project: what an API request works on, so that no route can read or
change another project's rows, whatever ids it is sent.

Every public method of :class:`~azuraforge.platform.store.Store` falls under one rule here,
worked out once from its signature (a method under none is refused, and a test fails):

- it takes a ``project``: it gets this one, whatever the caller passed;
- it takes an experiment's (a run's, a stream's) or a study's id, or a study's record: the
  object must be this project's, else :class:`~azuraforge.errors.NotFoundError`, the same
  as for an id that names nothing (existence does not leak);
- it is about the server rather than a project's data (users, tokens, the list of
  projects, the event position): :data:`SERVER_WIDE`;
- it is a worker's or a server task's (leases, metric writes, deliveries):
  :data:`NOT_FOR_REQUESTS`, refused.

A job sees the store as its project's requests do (:class:`JobStore`, which every job's code
gets from the kernel), and may also write through its own lease: each method refused to
requests either takes a ``lease`` (a job's writes: its points, lines, progress, its end),
allowed on the job's own lease only, or is in :data:`NOT_FOR_JOBS`, refused to jobs too.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from azuraforge.errors import AzuraForgeError
from azuraforge.platform.store import Store
from azuraforge.platform.store.records import Lease, StudyRecord

SERVER_WIDE = frozenset({
    "create_project", "create_user", "database_now", "end_sessions", "event_position",
    "find_credential", "find_run_credential", "find_token", "find_user", "find_user_now",
    "last_event_id", "list_projects", "list_tokens", "list_users", "revoke_token",
    "set_password", "touch_token", "use_once",
})  # fmt: skip
"""Methods about the server rather than one project's data: the routes that call them say
who may (a server admin, the token's own user)."""
NOT_FOR_REQUESTS = frozenset({
    "add_artifact", "claim", "claim_job", "claim_next", "close", "count_jobs",
    "create_server_key", "create_server_settings", "find_server_settings",
    "list_server_settings", "server_settings_version",
    "delete_login_failures", "delete_login_failures_before", "delete_server_keys_before",
    "delete_lapsed_duties",
    "drop_oldest_lines", "due_jobs", "find_login_failures",
    "finish", "hold_duty", "get_server_id", "get_session_name", "interrupt", "list_deliveries",
    "list_due_deliveries", "list_running", "list_server_keys",
    "list_duties", "list_unregistered_changes", "list_waiting_jobs", "list_watched_streams",
    "log_lines",
    "log_metrics", "oldest_queued",
    "project_id", "project_name", "project_of", "reap_expired", "renew", "restart",
    "release_duty", "set_alert", "set_change_version", "set_delivery", "set_login_failures",
    "set_progress", "settle_reaped",
    "stalled_studies",
    "write",
})  # fmt: skip
"""Methods of workers and of the server's own tasks, which work across projects."""
NOT_FOR_JOBS = frozenset({
    "claim", "claim_job", "claim_next", "close", "count_jobs", "create_server_key",
    "create_server_settings", "find_server_settings", "list_server_settings",
    "server_settings_version",
    "delete_lapsed_duties",
    "delete_login_failures", "delete_login_failures_before", "delete_server_keys_before",
    "due_jobs", "find_login_failures", "get_server_id", "get_session_name", "hold_duty",
    "list_deliveries", "list_duties", "list_due_deliveries", "list_running", "list_server_keys",
    "list_unregistered_changes", "list_waiting_jobs", "list_watched_streams", "oldest_queued",
    "project_id", "project_name", "project_of", "reap_expired",
    "release_duty", "set_alert", "set_change_version", "set_delivery", "set_login_failures",
    "stalled_studies",
})  # fmt: skip
"""Methods refused to requests that a job may not call either: the server's own tasks across
projects (claims, the reaper, the keepers, their duties, sign-in throttles, the server's
keys, the metrics' census), the store's own (``close``, the lookups inside its transactions).
The rest of :data:`NOT_FOR_REQUESTS` write through a lease, which a job may do on its own."""
_RUN_IDS = ("experiment_id", "run_id")
_STUDY_RECORDS = ("study", "studies")
_REQUIRED = ("experiment_id", "study_id")
"""Ids a project's requests must give (None would read every project's)."""


class ScopeError(AzuraForgeError):
    """A method a project's requests may not call (a programming error, never a request's)."""


class ProjectStore:
    """``store`` as the project ``project`` sees it (see the module's rules).

    Checked ids are remembered for the store's life (one request's), so a route that reads
    a run's metrics, artifacts and events checks the run once.
    """

    def __init__(self, store: Store, project: str) -> None:
        self.store, self.project = store, project
        self._mine: set[tuple[str, int]] = set()

    callers = "a project's requests"
    """Who sees the store so, as a refusal names them."""

    def __getattr__(self, name: str) -> Any:
        rule = self.rule_of(name)
        found = getattr(self.store, name)
        if rule is None or not callable(found):
            if name.startswith("_") or not callable(found):
                return found  # attributes: the engine, the dialect, the URL shown
            raise ScopeError(f"Store.{name} is not for {self.callers}")
        return functools.partial(rule, self, found)

    def rule_of(self, name: str) -> Rule | None:
        """The rule of the store's method ``name`` here; ``None`` refuses it."""
        return RULES.get(name)

    def check_run(self, experiment_id: int) -> None:
        """Raise :class:`NotFoundError` unless run ``experiment_id`` is this project's."""
        if ("run", experiment_id) in self._mine:
            return
        if self.store.find_experiment(experiment_id, project=self.project) is None:
            raise self.store.not_found(f"experiment {experiment_id}", self.project)
        self._mine.add(("run", experiment_id))

    def check_study(self, study_id: int) -> None:
        """Raise :class:`NotFoundError` unless study ``study_id`` is this project's."""
        if ("study", study_id) not in self._mine:
            self.store.get_study(study_id, project=self.project)
            self._mine.add(("study", study_id))


class JobStore(ProjectStore):
    """``store`` as a job of ``project`` holding ``lease`` sees it: what the project's requests
    may call, and the writes through a lease (the methods of :data:`NOT_FOR_REQUESTS` that
    take one) on ``lease`` alone. ``lease`` is ``None`` for a kind's step once its job ended
    (:meth:`~azuraforge.platform.jobs.kinds.JobKind.after`), which writes through none.

    The kernel hands each job's code this store
    (:class:`~azuraforge.platform.jobs.context.StoreContext`), whatever its kind, so that no
    kind reads or changes another project's rows, whatever ids and names its config holds.
    """

    callers = "a project's jobs"

    def __init__(self, store: Store, project: str, lease: Lease | None = None) -> None:
        super().__init__(store, project)
        self.lease = lease

    def rule_of(self, name: str) -> Rule | None:
        return JOB_RULES.get(name)


Rule = Callable[..., Any]


Method = Callable[..., Any]


def _in_project(scope: ProjectStore, method: Method, *args: Any, **kwargs: Any) -> Any:
    return method(*args, **{**kwargs, "project": scope.project})


def _server_wide(scope: ProjectStore, method: Method, *args: Any, **kwargs: Any) -> Any:
    return method(*args, **kwargs)


def _checked(names: tuple[str, ...]) -> Callable[[inspect.Signature], Rule]:
    """The rule of a method whose ``names`` parameters hold ids or records to check."""

    def rule_of(signature: inspect.Signature) -> Rule:
        def rule(scope: ProjectStore, method: Method, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(None, *args, **kwargs).arguments
            for name in names:
                if name in _REQUIRED or bound.get(name) is not None:
                    _check(scope, name, bound.get(name))
            return method(*args, **kwargs)

        return rule

    return rule_of


def _check(scope: ProjectStore, name: str, value: Any) -> None:
    if value is None:
        raise ScopeError(f"a project's requests name the {name} they read (got None)")
    if name in _RUN_IDS:
        scope.check_run(value)
    elif name == "experiment_ids":
        for experiment_id in value:
            scope.check_run(experiment_id)
    elif name == "study_id":
        scope.check_study(value)
    else:  # study records, read through this scope or not
        records: Iterable[StudyRecord] = [value] if name == "study" else value
        for record in records:
            if record.project != scope.project:
                raise scope.store.not_found(f"study {record.id}", scope.project)


def _query(scope: ProjectStore, method: Method, query: Any) -> Any:
    return method(dataclasses.replace(query, project=scope.project))


def _rule(name: str, signature: inspect.Signature) -> Rule | None:
    parameters = set(signature.parameters)
    if name in NOT_FOR_REQUESTS or name.startswith("_"):
        return None
    if "project" in parameters:
        return _in_project
    if name == "list_experiments":
        return _query
    checked = tuple(p for p in (*_RUN_IDS, "experiment_ids", "study_id", *_STUDY_RECORDS)
                    if p in parameters)  # fmt: skip
    if checked:
        return _checked(checked)(signature)
    if name in SERVER_WIDE:
        return _server_wide
    return None


def _rules() -> dict[str, Rule]:
    found = {}
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        rule = _rule(name, inspect.signature(method))
        if rule is not None:
            found[name] = rule
    return found


RULES = _rules()
"""Each method a project's requests may call, and how it is kept to the project."""


def _own_lease(signature: inspect.Signature) -> Rule:
    """The rule of a method that writes through the ``lease`` it is given: the job's own.
    Where the lease is among the arguments is found once here, not bound at each write."""
    position = list(signature.parameters).index("lease") - 1  # after self

    def rule(scope: JobStore, method: Method, *args: Any, **kwargs: Any) -> Any:
        lease = kwargs.get("lease") if len(args) <= position else args[position]
        if scope.lease is None or lease != scope.lease:
            raise ScopeError(
                f"a job writes through its own lease ({scope.lease}), not through {lease}"
            )
        return method(*args, **kwargs)

    return rule


def _job_rules() -> dict[str, Rule]:
    found = dict(RULES)
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        signature = inspect.signature(method)
        if (
            name in NOT_FOR_REQUESTS
            and name not in NOT_FOR_JOBS
            and "lease" in signature.parameters
        ):
            found[name] = _own_lease(signature)
    return found


JOB_RULES = _job_rules()
"""Each method a project's jobs may call, and how it is kept to the project (and the lease)."""


def unclassified_for_jobs() -> list[str]:
    """Methods refused to requests that neither write through a lease (allowed to a job on
    its own) nor are refused to jobs on purpose (:data:`NOT_FOR_JOBS`): each must be placed
    (a test keeps this empty)."""
    refused = [
        n for n, _ in inspect.getmembers(Store, inspect.isfunction) if n in NOT_FOR_REQUESTS
    ]
    return [n for n in refused if n not in JOB_RULES and n not in NOT_FOR_JOBS]


def unclassified() -> list[str]:
    """Public methods of the store under no rule and not refused on purpose: each must be
    placed (a test keeps this empty)."""
    public = [n for n, _ in inspect.getmembers(Store, inspect.isfunction) if not n.startswith("_")]
    return [n for n in public if n not in RULES and n not in NOT_FOR_REQUESTS]
