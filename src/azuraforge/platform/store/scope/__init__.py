"""A store seen from one project: what an API request works on, so that no route can read or
change another project's rows, whatever ids it is sent.

:class:`ProjectStore` offers each interface of :mod:`azuraforge.platform.store.interfaces` by
a method of its own for each of the store's (``scope/runs.py``, ``scope/registry.py``...), each
under one rule, worked out from the store's signature (:func:`~.rules.unclassified` lists a
method under none, and a test fails):

- it takes a ``project``: it gets this one, whatever the caller passed;
- it takes an experiment's (a run's, a stream's) or a study's id, or a study's record: the
  object must be this project's, else :class:`~azuraforge.errors.NotFoundError`, the same
  as for an id that names nothing (existence does not leak);
- it is about the server rather than a project's data (users, tokens, the list of
  projects, the event position): :data:`SERVER_WIDE`, passed on as it is;
- it is a worker's or a server task's (leases, metric writes, deliveries):
  :data:`NOT_FOR_REQUESTS`, which no view of a project offers.

A job sees the store as its project's requests do (:class:`JobStore`, which every job's code
gets from the kernel), and may also write through its own lease: each method refused to
requests either takes a ``lease`` (a job's writes: its points, lines, progress, its end),
offered on the job's own lease only (:class:`~azuraforge.platform.store.interfaces.
LeaseWrites`), or is in :data:`NOT_FOR_JOBS`, which no job's view offers.
"""

from __future__ import annotations

from azuraforge.platform.store.scope.base import ScopeError
from azuraforge.platform.store.scope.rules import (
    NOT_FOR_JOBS,
    NOT_FOR_REQUESTS,
    SERVER_WIDE,
    unclassified,
    unclassified_for_jobs,
)
from azuraforge.platform.store.scope.views import JobStore, ProjectStore

__all__ = [
    "NOT_FOR_JOBS",
    "NOT_FOR_REQUESTS",
    "SERVER_WIDE",
    "JobStore",
    "ProjectStore",
    "ScopeError",
    "unclassified",
    "unclassified_for_jobs",
]
