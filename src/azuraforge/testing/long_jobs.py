"""A stream-shaped job kind for the kernel's long-job tests and soak benchmark.

:class:`StreamSoak` replays a CSV series event by event, as the hub's streams will: at each
step it predicts the target's next value from this event (an online standard scaler and
linear regression), then learns it, and logs the running MAE beside persistence's (the last
value again). After every step it saves its checkpoint (the position, the model's state, the
errors so far), so a restart at a step boundary resumes where it stopped. Each step also
keeps ``grow_bytes`` more bytes alive, as a leaking stream would, so a memory limit is
reached; a restart starts a new process and drops them.

Not registered by AzuraForge: a test or benchmark declares it in a throwaway distribution
(entry-point group ``azuraforge.job_kinds``, name ``stream-soak``), as another package would.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobKind, RestartPolicy
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.interfaces import JobView
from azuraforge.platform.store.states import CANCELLED, COMPLETED
from azuraforge.stream import CsvReplay, LinearRegression, StandardScaler
from azuraforge.stream.compose import Pipeline
from azuraforge.stream.online import from_json, to_json

KIND = "stream-soak"


class StreamSoak(JobKind):
    """The job kind ``stream-soak``. Its config:

    - ``csv`` (a file of the data folder with a time column), ``target`` (one of its
      columns), ``steps`` (events in all, going round the file again at its end),
      ``step_seconds`` (a pause per step, as a live stream waits for its next event);
    - ``leak``: ``{"bytes": n, "from": a, "to": b}`` keeps ``n`` more bytes alive at each
      step from ``a`` to ``b`` (a burst of big events a stream holds on to);
    - ``crash_at_step`` and ``crash_times``: the process exits (code 70; or the job raises,
      with ``crash_with: "error"``) on reaching that step, until the job crashed
      ``crash_times`` times;
    - the restart policy's terms (:class:`RestartPolicy`).
    """

    name = KIND

    def restart_policy(self, record: ExperimentRecord) -> RestartPolicy:
        return RestartPolicy(**{k: record.config[k] for k in POLICY_TERMS if k in record.config})

    def run(
        self, store: JobView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        config = record.config
        events = _events(ctx.open_files(_FileConfig, {"csv": config["csv"]})["csv"],
                         config["target"])  # fmt: skip
        state = SoakState.resume(ctx.load_checkpoint())
        leak, held = config.get("leak"), []
        while state.step < config["steps"]:
            if ctx.should_stop():
                return CANCELLED, state.result()
            if state.step == config.get("crash_at_step") and _crashes(record) < config.get(
                "crash_times", 0
            ):
                if config.get("crash_with") == "error":
                    raise RuntimeError(f"a crash at step {state.step}")
                os._exit(70)
            state.advance(events[state.step % len(events)], config["target"])
            ctx.log_metrics(state.metrics(), step=state.step)
            ctx.save_checkpoint(state.checkpoint())
            if leak and leak["from"] <= state.step < leak["to"]:
                held.append(bytearray(leak["bytes"]))
            time.sleep(config.get("step_seconds", 0.0))
        return COMPLETED, state.result()


POLICY_TERMS = ("memory_limit", "restart_every", "max_restarts", "backoff", "stable_after",
                "step_grace")  # fmt: skip


def _crashes(record: ExperimentRecord) -> int:
    return sum(entry["reason"] == "crash" for entry in record.restart_history or [])


class _FileConfig(BaseModel):
    """The job's file setting, which :meth:`StoreContext.open_files` checks."""

    csv: Path


def _events(path: Path, target: str) -> list[dict[str, float]]:
    """The file's events' values (every numeric column, the target's among them)."""
    events = [dict(event.values) for event in CsvReplay(path)]
    if not events or target not in events[0]:
        raise InvalidParameterError(f"target: no column {target!r} of numbers in the file")
    return events


class SoakState:
    """Where a :class:`StreamSoak` job is: the step, the model, the previous event, and the
    absolute errors so far of the model and of persistence."""

    def __init__(self) -> None:
        self.step = 0
        self.model = Pipeline(StandardScaler(), LinearRegression(lr=0.01))
        self.previous: dict[str, float] | None = None
        self.errors = {"model": 0.0, "persistence": 0.0}
        self.scored = 0

    @classmethod
    def resume(cls, checkpoint: dict[str, Any] | None) -> SoakState:
        """The state a checkpoint saved, or a new one for ``None``."""
        state = cls()
        if checkpoint is not None:
            state.step, state.previous = checkpoint["step"], checkpoint["previous"]
            state.errors, state.scored = checkpoint["errors"], checkpoint["scored"]
            state.model.load_state_dict(from_json(checkpoint["model"]))
        return state

    def advance(self, event: dict[str, float], target: str) -> None:
        """Score the forecast made from the previous event, then learn it; one step."""
        if self.previous is not None:
            y = event[target]
            self.errors["model"] += abs(self.model.predict_one(self.previous) - y)
            self.errors["persistence"] += abs(self.previous[target] - y)
            self.scored += 1
            self.model.learn_one(self.previous, y)
        self.previous, self.step = event, self.step + 1

    def metrics(self) -> dict[str, float]:
        """The running MAE of the model and of persistence."""
        scored = max(self.scored, 1)
        return {f"mae_{name}": total / scored for name, total in self.errors.items()}

    def checkpoint(self) -> dict[str, Any]:
        """Everything :meth:`resume` needs, as JSON."""
        return {"step": self.step, "previous": self.previous, "errors": self.errors,
                "scored": self.scored, "model": to_json(self.model.state_dict())}  # fmt: skip

    def result(self) -> dict[str, Any]:
        """The job's result: the steps done, the running MAEs, the model's weights."""
        weights = self.model.final.state_dict()["weights"]
        return {"steps": self.step, **self.metrics(), "weights": np.asarray(weights).tolist()}


def replay(csv: Path, target: str, steps: int) -> dict[str, Any]:
    """The result a :class:`StreamSoak` job of ``steps`` steps ends with when nothing
    restarts it: what a restarted one must equal."""
    events, state = _events(csv, target), SoakState()
    while state.step < steps:
        state.advance(events[state.step % len(events)], target)
    return state.result()


def check_soak(store: Store, job: int, csv: Path, target: str) -> dict[str, int]:
    """Check that the ended ``stream-soak`` job ``job`` lost no step and repeated none:
    completed, each step's running MAE stored exactly once, and its result what the job
    gives when nothing restarts it. Returns how often it was restarted, by reason."""
    record = store.get_experiment(job)
    _check(record.status == COMPLETED, f"job {job} ended {record.status}: {record.error}")
    steps = record.config["steps"]
    stored = [step for step, _, _ in store.get_metrics(job).get("mae_model", [])]
    _check(
        stored == list(range(1, steps + 1)),
        f"steps stored: {len(stored)} of {steps}, {len(set(stored))} distinct; first gap at "
        f"{next((i + 1 for i, s in enumerate(stored) if s != i + 1), None)}",
    )
    _check(record.result == replay(csv, target, steps), "the result differs from a replay")
    reasons: dict[str, int] = {}
    for event in store.list_events(experiment_id=job, kinds=["status"]):
        if "restart" in event.payload:
            reason = event.payload["restart"]["reason"]
            reasons[reason] = reasons.get(reason, 0) + 1
    _check(sum(reasons.values()) == record.restarts, f"{reasons} in {record.restarts} restarts")
    return reasons


def _check(holds: bool, problem: str) -> None:
    """Raise :class:`AssertionError` saying ``problem`` unless it ``holds`` (under ``-O``
    too, unlike ``assert``)."""
    if not holds:
        raise AssertionError(problem)
