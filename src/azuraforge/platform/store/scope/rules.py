"""The methods of the store that no scoped view offers, and the checks that every other one is
offered under its rule (:mod:`azuraforge.platform.store.scope`; tests keep them empty)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from azuraforge.platform.store import Store
from azuraforge.platform.store.interfaces import JobView, LeaseWrites, ProjectView
from azuraforge.platform.store.scope.views import JobStore, ProjectStore

SERVER_WIDE = frozenset({
    "create_project", "create_user", "database_now", "end_sessions", "event_position",
    "find_credential", "find_run_credential", "find_token", "find_user", "find_user_now",
    "last_event_id", "list_projects", "list_tokens", "list_users", "revoke_token",
    "set_password", "touch_token", "use_once",
})  # fmt: skip
"""Methods about the server rather than one project's data, which the views pass on as they
are: the routes that call them say who may (a server admin, the token's own user)."""
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
    "log_metrics", "not_found", "oldest_queued",
    "project_id", "project_name", "project_of", "reap_expired", "renew", "restart",
    "release_duty", "set_alert", "set_change_version", "set_delivery", "set_login_failures",
    "set_progress", "settle_reaped",
    "stalled_studies",
    "write",
})  # fmt: skip
"""Methods of workers and of the server's own tasks, which work across projects, and the
store's own (``close``, ``not_found``, the lookups inside its transactions)."""
_CHECKED_IDS = ("experiment_id", "run_id", "experiment_ids", "study_id", "study", "studies")
"""Parameters naming a run or a study (or holding a study's record) that a view checks."""


def store_methods() -> dict[str, Callable[..., Any]]:
    """The store's public methods, by name."""
    return {
        name: method
        for name, method in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_")
    }


def interface_methods(interface: type) -> set[str]:
    """The names of the methods ``interface`` and the interfaces it extends declare."""
    return {
        name
        for cls in interface.__mro__
        if cls.__module__.startswith(ProjectView.__module__)
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


NOT_FOR_JOBS = NOT_FOR_REQUESTS - interface_methods(LeaseWrites)
"""Methods refused to requests that a job may not call either: all but the writes through a
lease (:class:`~azuraforge.platform.store.interfaces.LeaseWrites`), which a job may do on its
own lease — the server's own tasks across projects (claims, the reaper, the keepers, their
duties, sign-in throttles, the server's keys, the metrics' census) and the store's own."""


def rule_kept(view: type, name: str, method: Callable[..., Any]) -> bool:
    """Whether ``view`` offers the store's ``method`` by a method of its own that applies the
    rule the store's signature asks for: a ``project`` forced to the view's, the ids of
    :data:`_CHECKED_IDS` checked, a write through the job's own lease, or passed on as it is
    for :data:`SERVER_WIDE` alone."""
    own = _scoped_definition(view, name)
    if own is None:
        return False
    source, parameters = inspect.getsource(own), inspect.signature(method).parameters
    if "project" in parameters or name == "list_experiments":
        return "project=self.project" in source
    if any(checked in parameters for checked in _CHECKED_IDS):
        return "self.check_" in source
    if name in NOT_FOR_REQUESTS:
        return "self.check_lease(lease)" in source
    return name in SERVER_WIDE


def _scoped_definition(view: type, name: str) -> Callable[..., Any] | None:
    """``view``'s method ``name`` when a class of its own defines it, not one of the
    interfaces it implements (whose methods have no body)."""
    for cls in view.__mro__:
        if name in vars(cls):
            found = vars(cls)[name]
            interface = cls.__module__.startswith(ProjectView.__module__)
            return None if interface or not inspect.isfunction(found) else found
    return None


def unclassified() -> list[str]:
    """Public methods of the store a project's requests could reach unscoped: neither refused
    on purpose (:data:`NOT_FOR_REQUESTS`) nor offered by :class:`ProjectStore` under their
    rule (:func:`rule_kept`). Each must be placed (a test keeps this empty)."""
    offered = interface_methods(ProjectView)
    return [
        name
        for name, method in store_methods().items()
        if (name not in NOT_FOR_REQUESTS or name in offered)
        and not rule_kept(ProjectStore, name, method)
    ]


def unclassified_for_jobs() -> list[str]:
    """Methods refused to requests that neither :class:`JobStore` offers as a write through
    the job's own lease nor are refused to jobs on purpose (:data:`NOT_FOR_JOBS`): each must
    be placed (a test keeps this empty)."""
    offered = interface_methods(JobView)
    return [
        name
        for name, method in store_methods().items()
        if ((name in NOT_FOR_REQUESTS and name not in NOT_FOR_JOBS) or name in offered)
        and not rule_kept(JobStore, name, method)
    ]
