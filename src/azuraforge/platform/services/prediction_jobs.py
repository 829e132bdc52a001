"""The job kind ``prediction``: asynchronous predictions, run by workers under the lease
protocol like any run.

A job's config names the model version (name, number and id), the key of its inputs in the
blob store and the horizon; the job copies its inputs into its folder, loads the version
(from its worker's copy of the version's files, checked against their digest), predicts,
and writes ``predictions.csv`` into its folder, which its files keep
(``runs/<id>/predictions.csv``) once it ended. A job is a pure function of its inputs: a
cancelled one is killed at once (nothing to save).
"""

from __future__ import annotations

from typing import Any, Literal

from azuraforge.apps import get_pipeline
from azuraforge.learn.datasets import write_csv
from azuraforge.platform.blobs import BlobCache, open_blobs
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobHost, JobKind
from azuraforge.platform.services.predictions import (
    INPUTS_FILE,
    PREDICTIONS_FILE,
    ROWS_SOURCE,
    delete_inputs,
    rows_from_file,
)
from azuraforge.platform.services.registry import load_version
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.interfaces import JobView, Registry
from azuraforge.platform.store.states import CANCELLED, COMPLETED, PREDICTION


def run_prediction(
    store: Registry, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> tuple[str, dict[str, Any]]:
    """Predict with the model version ``record`` names; its final status and result (rows
    predicted, the file, its columns)."""
    config = record.config
    version = store.get_version(config["model"], config["version"])  # numbers are never reused
    folder, blobs = ctx.output_dir, ctx.blobs or open_blobs(settings)
    ctx.progress(0, 3, "loading the model")
    artifact = load_version(BlobCache(blobs, settings.cache_dir), version)
    pipeline = get_pipeline(version.pipeline)()
    header: bool | Literal["auto"] = True if config["source"] == ROWS_SOURCE else "auto"
    blobs.get_file(config["inputs"], folder / INPUTS_FILE)
    rows = rows_from_file(folder / INPUTS_FILE, header=header)
    if ctx.should_stop():
        return CANCELLED, {}
    ctx.progress(1, 3, f"predicting {len(rows):,} rows")
    columns = pipeline.predict_rows(artifact, rows, horizon=config.get("horizon"))
    path = folder / PREDICTIONS_FILE
    with path.open("w", encoding="utf-8") as handle:
        count = write_csv(handle, columns)
    ctx.log_artifact(path)
    ctx.progress(3, 3, f"{count:,} predictions")
    return COMPLETED, {
        "rows": count,
        "file": PREDICTIONS_FILE,
        "columns": list(columns),
        "model": version.model,
        "version": version.version,
    }


class PredictionKind(JobKind):
    """The job kind ``prediction``: :func:`run_prediction`; a cancelled job is killed at once
    (it has nothing to save); a lost one (never run again) has its inputs deleted."""

    name = PREDICTION
    cancel_grace = 0.0

    def run(
        self, store: Registry, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_prediction(store, record, settings, ctx)

    def lost(self, host: JobHost[JobView], record: ExperimentRecord) -> None:
        delete_inputs(open_blobs(host.settings), record)
