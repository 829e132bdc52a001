"""Run states, as named constants and sets (after ``celery/states.py``).

queued → running → completed | failed | cancelled | lost; a lost run whose pipeline allows
it goes back to queued.
"""

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
LOST = "lost"

ALL_STATES = frozenset({QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST})
FINISHED_STATES = frozenset({COMPLETED, FAILED, CANCELLED, LOST})
"""States a run never leaves (except lost → queued when its pipeline re-queues)."""
