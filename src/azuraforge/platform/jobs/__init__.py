"""Leased jobs: the lease protocol's worker, runner, run context and transports (local and
Celery)."""
