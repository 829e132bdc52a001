"""The store as a job sees it (:class:`JobStore`): its project's view, as requests have it,
and the writes through its own lease; every method the requests' view refuses is either
such a write or refused to jobs on purpose."""

from __future__ import annotations

from typing import cast

import pytest

from azuraforge.errors import NotFoundError
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.scope import JobStore, ScopeError, unclassified_for_jobs


def test_a_job_sees_its_project_and_writes_through_its_own_lease_alone(store: Store) -> None:
    assert unclassified_for_jobs() == []
    store.create_project("other")
    theirs = store.create_experiment("sleeper", {}, name="theirs", project="other")
    mine, neighbour = (store.create_experiment("sleeper", {}) for _ in range(2))
    lease, other_lease = (store.claim(r.id, "w1", 30.0) for r in (mine, neighbour))
    assert lease is not None and other_lease is not None
    job = cast(Store, JobStore(store, "default", lease))
    with pytest.raises(ScopeError, match=r"Store\.claim_next is not for a project.s jobs"):
        job.claim_next("someone", 30.0)
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
    after = cast(Store, JobStore(store, "default"))  # a kind's step once its job ended
    with pytest.raises(ScopeError, match="a job writes through its own lease"):
        after.finish(lease, "completed")
