"""A study whose advance was cut short (its worker died between a trial's end and the next
ask) has no trial queued or running: the reaper's sweep advances it, on local workers and on
Celery workers alike."""

from __future__ import annotations

import json

import redis

from azuraforge.platform.jobs.celery_worker import make_celery_app, reap
from azuraforge.platform.jobs.kinds import JobHost
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.jobs.test_transports import (  # noqa: F401 (redis_url is a fixture)
    empty_redis,
    redis_url,
)

X = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def stalled_study(studies: StudyService, store: Store, settings: Settings) -> int:
    """A study of 3 trials whose first trial ended and was never followed by an advance."""
    study = studies.create(StudyDefinition(pipeline="quadratic", space=X, n_trials=3))
    [trial] = store.list_trial_runs(study.id)
    lease = store.claim(trial.id, "a-worker-that-then-died", 60.0)
    assert lease is not None
    assert execute(store, lease, settings) == "completed"
    assert store.stalled_studies() == [study.id]
    return study.id


def test_a_local_workers_reaper_advances_a_stalled_study(
    studies: StudyService, store: Store, settings: Settings
) -> None:
    study_id = stalled_study(studies, store, settings)
    Worker(settings, store).reap()
    assert store.stalled_studies() == []
    assert [r.status for r in store.list_trial_runs(study_id)] == ["completed", "queued"]


def test_a_celery_workers_reaper_advances_a_stalled_study_and_sends_its_next_trial(
    studies: StudyService,
    store: Store,
    settings: Settings,
    redis_url: str,  # noqa: F811
) -> None:
    study_id = stalled_study(studies, store, settings)
    on_celery = settings.model_copy(update={"transport": "celery", "broker_url": redis_url})
    empty_redis(redis_url)
    host = JobHost(store, on_celery)
    reap(make_celery_app(on_celery), host)
    kept = host.keep("studies", object)  # the reaper's one study service, not one per pass
    assert isinstance(kept, StudyService)
    reap(make_celery_app(on_celery), host)
    assert host.keep("studies", object) is kept
    host.release()
    assert store.stalled_studies() == []
    runs = store.list_trial_runs(study_id)
    assert [r.status for r in runs] == ["completed", "queued"]
    queue = redis.Redis.from_url(redis_url)
    [message] = [json.loads(m) for m in queue.lrange("celery", 0, -1)]
    queue.close()
    assert message["headers"]["id"] == f"run-{runs[1].id}"
