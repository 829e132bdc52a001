"""A study's trial: a pipeline run whose intermediate metrics feed Optuna's pruner (in
progress)."""

from __future__ import annotations

from typing import Any

from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store


def run_trial(
    store: Store, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> tuple[str, dict[str, Any]]:
    """Run a trial of its study; its final status (``pruned`` when stopped by the pruner)."""
    raise NotImplementedError("trials are being built")
