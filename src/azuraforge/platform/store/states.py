"""A job's states and the built-in kinds, as named constants and sets (after
``celery/states.py``): the store's vocabulary, which every layer above it reads.

queued → running → completed | failed | cancelled | lost, and ``pruned`` for a study's trial
that its pruner stopped early; a lost run whose pipeline allows it goes back to queued.
"""

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
LOST = "lost"
PRUNED = "pruned"

ALL_STATES = frozenset({QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST, PRUNED})
FINISHED_STATES = frozenset({COMPLETED, FAILED, CANCELLED, LOST, PRUNED})
"""States a run never leaves (except lost → queued when its pipeline re-queues)."""

RUN = "run"
TRIAL = "trial"
PREDICTION = "prediction"
RETRAIN = "retrain"
"""The built-in kinds of job (a pipeline's run, a study's trial, a model's predictions, a
stream's candidate trained as a run): the
store queries them by name; what each runs is registered in ``azuraforge.job_kinds``
(:mod:`azuraforge.platform.jobs.kinds`), where other kinds join them."""

RESTART_HISTORY = 20
"""How many of a job's newest restarts its row keeps (``restarts`` counts them all)."""
