"""Run states, as named constants and sets (after ``celery/states.py``).

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
JOB_KINDS = frozenset({RUN, TRIAL, PREDICTION})
"""What a job runs: a pipeline (a run, or a study's trial), or a model's predictions."""
