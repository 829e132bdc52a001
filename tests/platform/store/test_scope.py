"""The store as a job sees it (:class:`JobStore`): its project's view, as requests have it,
and the writes through its own lease; every method the requests' view refuses is either
such a write or refused to jobs on purpose."""

from __future__ import annotations

import pytest

from azuraforge.errors import NotFoundError
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.scope import (
    JobStore,
    ProjectStore,
    ScopeError,
    unclassified,
    unclassified_for_jobs,
)
from azuraforge.platform.store.scope.rules import rule_kept


def test_a_job_sees_its_project_and_writes_through_its_own_lease_alone(store: Store) -> None:
    assert unclassified_for_jobs() == []
    store.create_project("other")
    theirs = store.create_experiment("sleeper", {}, name="theirs", project="other")
    mine, neighbour = (store.create_experiment("sleeper", {}) for _ in range(2))
    lease, other_lease = (store.claim(r.id, "w1", 30.0) for r in (mine, neighbour))
    assert lease is not None and other_lease is not None
    job = JobStore(store, "default", lease)
    assert not hasattr(job, "claim_next")  # the server's task: no method of the job's view
    with pytest.raises(NotFoundError, match=f"experiment {theirs.id} not found"):
        job.get_metrics(theirs.id)
    made = job.create_experiment("sleeper", {}, name="made", project="other")
    assert made.project == "default"  # a job creates in its own project, whatever it says
    listed = job.list_experiments(ExperimentQuery(project="other")).items
    assert {r.name for r in listed} == {"made", mine.name, neighbour.name}  # its own
    job.set_progress(lease, 1, 2, "half")
    assert store.get_experiment(mine.id).progress_message == "half"
    with pytest.raises(ScopeError, match="a job writes through its own lease"):
        job.set_progress(other_lease, 1, 2, "not mine")
    after = JobStore(store, "default")  # a kind's step once its job ended
    with pytest.raises(ScopeError, match="a job writes through its own lease"):
        after.finish(lease, "completed")


class _Forgetful(JobStore):
    """A view whose author forgot each rule once."""

    def get_metrics(self, experiment_id, keys=(), max_points=None):  # type: ignore[no-untyped-def]
        return self.store.get_metrics(experiment_id, keys, max_points)  # no check of the run

    def list_models(self, *, project="default", limit=50, offset=0):  # type: ignore[no-untyped-def]
        return self.store.list_models(project=project, limit=limit, offset=offset)

    def finish(self, lease, status, **kwargs):  # type: ignore[no-untyped-def]
        return self.store.finish(lease, status, **kwargs)  # any lease


def test_a_method_that_forgets_its_rule_is_unclassified() -> None:
    assert unclassified() == [] and unclassified_for_jobs() == []
    for name in ("get_metrics", "list_models", "finish"):
        assert rule_kept(JobStore, name, getattr(Store, name))
        assert not rule_kept(_Forgetful, name, getattr(Store, name)), name
    assert not rule_kept(ProjectStore, "claim_next", Store.claim_next)  # offered by none
