"""Asynchronous prediction jobs, run by workers under the lease protocol (in progress)."""

from __future__ import annotations

from typing import Any

from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store


def run_prediction(
    store: Store, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> tuple[str, dict[str, Any]]:
    """Predict with the model version ``record`` names; its final status and result."""
    raise NotImplementedError("prediction jobs are being built")
