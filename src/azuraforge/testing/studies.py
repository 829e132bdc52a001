"""A finished study of many trials in a store at once, for load tests and benchmarks of the
study pages.

The study is a ``weather-forecaster`` study over five settings (a log-scale float, a stepped
int, an int, a float and a categorical), stored as ``POST /studies`` would store it. Its
trials go straight into Optuna's tables and the platform's trial runs beside them, in bulk:
10,000 trials take a few seconds, where Optuna's API (a transaction per trial, several per
value) takes minutes. Of the trials, 80% complete (12 intermediate values each), 12% are
pruned (2 to 8), 5% fail (0 to 3, with a note) and 3% are cancelled; values are made up.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Enum,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)

from azuraforge.apps import get_pipeline
from azuraforge.platform.services.study_space import distributions, parse_space
from azuraforge.platform.store import Store, StudyRecord
from azuraforge.platform.store.models import Experiment, TuningStudy
from azuraforge.platform.store.study_trials import NOTE
from azuraforge.testing.runs import chunks

SPACE: dict[str, Any] = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "hidden_size": {"type": "int", "low": 8, "high": 128, "step": 8},
    "num_layers": {"type": "int", "low": 1, "high": 4},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "batch_size": [32, 64, 128, 256],
}
SHARES = (("completed", 0.80), ("pruned", 0.12), ("failed", 0.05), ("cancelled", 0.03))
OPTUNA_STATES = {
    "completed": "COMPLETE",
    "pruned": "PRUNED",
    "failed": "FAIL",
    "cancelled": "FAIL",
}
EPOCHS = 12

# Optuna's columns this module writes, copied as store/study_trials.py copies those it reads
# (Optuna's models module is private; its schema has kept these since Optuna 3.0). Its enums
# are named as Optuna names them: PostgreSQL keeps them as types of those names.
_optuna = MetaData()
_VALUE_TYPE = ("FINITE", "INF_POS", "INF_NEG")
_trials = Table(
    "trials", _optuna, Column("trial_id", Integer, primary_key=True), Column("number", Integer),
    Column("study_id", Integer),
    Column("state", Enum("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING", name="trialstate")),
    Column("datetime_start", DateTime), Column("datetime_complete", DateTime),
)  # fmt: skip
_params = Table(
    "trial_params", _optuna, Column("param_id", Integer, primary_key=True),
    Column("trial_id", Integer), Column("param_name", String(512)),
    Column("param_value", Float), Column("distribution_json", Text),
)  # fmt: skip
_values = Table(
    "trial_values", _optuna, Column("trial_value_id", Integer, primary_key=True),
    Column("trial_id", Integer), Column("objective", Integer), Column("value", Float),
    Column("value_type", Enum(*_VALUE_TYPE, name="trialvaluetype")),
)  # fmt: skip
_steps = Table(
    "trial_intermediate_values", _optuna,
    Column("trial_intermediate_value_id", Integer, primary_key=True),
    Column("trial_id", Integer), Column("step", Integer), Column("intermediate_value", Float),
    Column("intermediate_value_type", Enum(*_VALUE_TYPE, name="trialintermediatevaluetype")),
)  # fmt: skip
_attributes = Table(
    "trial_user_attributes", _optuna, Column("trial_user_attribute_id", Integer, primary_key=True),
    Column("trial_id", Integer), Column("key", String(512)), Column("value_json", Text),
)  # fmt: skip


def insert_study(store: Store, trials: int, *, name: str | None = None, seed: int = 0) -> int:
    """Store a finished study of ``trials`` made-up trials in ``store`` (at the head schema);
    its id.

    Parameters
    ----------
    store
        The store, SQLite or PostgreSQL.
    trials
        How many trials the study ran (its budget too).
    name
        The study's name (``bulk-<trials>-<random>`` by default).
    seed
        Seeds the trials' values.
    """
    pipeline = get_pipeline("weather-forecaster")
    base = {"epochs": EPOCHS, "max_rows": 3000}
    space = parse_space(pipeline, base, SPACE)
    study = store.create_study(
        name=name or f"bulk-{trials}-{uuid.uuid4().hex[:6]}",
        optuna_name=f"azuraforge-{uuid.uuid4().hex}",
        pipeline=pipeline.name, base_config=base, space=space, objective="val_loss",
        direction="minimize", sampler="tpe", pruner="median", n_trials=trials, parallelism=4,
        seed=seed,
    )  # fmt: skip
    storage = store.optuna_database
    optuna.create_study(storage=storage, study_name=study.optuna_name, direction="minimize")
    optuna_id = storage.get_study_id_from_name(study.optuna_name)
    rows = _made_up(space, trials, random.Random(seed))
    with storage.engine.begin() as connection:
        first = int(connection.scalar(select(func.max(_trials.c.trial_id))) or 0)
        _insert_optuna(connection, optuna_id, first + 1, rows, distributions(space))
        if connection.dialect.name == "postgresql":  # ids given: move the sequence past them
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), :last)"),
                {"last": first + len(rows)},
            )
    with store.engine.begin() as connection:
        _insert_runs(connection, store.project_id(connection, study.project), study, rows)
        connection.execute(
            update(TuningStudy)
            .where(TuningStudy.id == study.id)
            .values(status="completed", trials_created=trials, finished_at=time.time())
        )
    return study.id


def _draw(rng: random.Random, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, entry in space.items():
        if entry["type"] == "categorical":
            values[key] = rng.choice(entry["choices"])
        elif entry["type"] == "int":
            values[key] = rng.randrange(entry["low"], entry["high"] + 1, entry["step"] or 1)
        elif entry["log"]:
            values[key] = math.exp(rng.uniform(math.log(entry["low"]), math.log(entry["high"])))
        else:
            values[key] = rng.uniform(entry["low"], entry["high"])
    return values


def _loss(params: Mapping[str, Any], epoch: int, rng: random.Random) -> float:
    """A made-up validation loss: best near lr 3e-3, 64 units, 2 layers; falls by epoch."""
    base = (math.log10(params["learning_rate"]) + 2.5) ** 2 * 0.2
    base += ((params["hidden_size"] - 64) / 64) ** 2 * 0.1 + abs(params["num_layers"] - 2) * 0.03
    return float(0.05 + base + params["dropout"] * 0.02 + 0.5 / (epoch + 1) + rng.random() * 0.01)


def _status(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for status, share in SHARES:
        total += share
        if roll < total:
            return status
    return "completed"


def _made_up(space: Mapping[str, Any], count: int, rng: random.Random) -> list[dict[str, Any]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made = []
    for number in range(count):
        status, params = _status(rng), _draw(rng, space)
        steps = {"completed": EPOCHS, "pruned": rng.randint(2, 8)}.get(status, rng.randint(0, 3))
        curve = [_loss(params, epoch, rng) for epoch in range(1, steps + 1)]
        value = min(curve) if status == "completed" and curve else None
        if status == "pruned":
            value = curve[-1]  # Optuna's value of a pruned trial: its last intermediate one
        begun = start + timedelta(seconds=30 * number)
        made.append({
            "number": number, "status": status, "params": params, "curve": curve,
            "value": value, "objective": min(curve) if curve else None, "start": begun,
            "end": begun + timedelta(seconds=5 + steps * 2),
        })  # fmt: skip
    return made


def _insert_optuna(
    connection: Connection,
    optuna_study_id: int,
    first: int,
    rows: Sequence[Mapping[str, Any]],
    space: Mapping[str, BaseDistribution],
) -> None:
    batches: dict[Table, list[dict[str, Any]]] = {}

    def add(table: Table, **values: Any) -> None:
        batches.setdefault(table, []).append(values)

    for offset, row in enumerate(rows):
        trial_id = first + offset
        add(_trials, trial_id=trial_id, number=row["number"],
            study_id=optuna_study_id, state=OPTUNA_STATES[row["status"]],
            datetime_start=row["start"].replace(tzinfo=None),
            datetime_complete=row["end"].replace(tzinfo=None))  # fmt: skip
        for key, value in row["params"].items():
            add(_params, trial_id=trial_id, param_name=key,
                param_value=space[key].to_internal_repr(value),
                distribution_json=distribution_to_json(space[key]))  # fmt: skip
        if row["value"] is not None:
            add(_values, trial_id=trial_id, objective=0,
                value=row["value"], value_type="FINITE")  # fmt: skip
        for step, value in enumerate(row["curve"], start=1):
            add(_steps, trial_id=trial_id, step=step,
                intermediate_value=value, intermediate_value_type="FINITE")  # fmt: skip
        if row["status"] in ("failed", "cancelled"):
            note = "cancelled" if row["status"] == "cancelled" else "the run ended failed: boom"
            add(_attributes, trial_id=trial_id, key=NOTE,
                value_json=json.dumps(note))  # fmt: skip
    for table, batch in batches.items():
        for part in chunks(batch):
            connection.execute(table.insert(), list(part))


def _insert_runs(
    connection: Connection, project_id: int, study: StudyRecord, rows: Sequence[Mapping[str, Any]]
) -> None:
    for part in chunks(rows):
        connection.execute(insert(Experiment), [_run(project_id, study, row) for row in part])


def _run(project_id: int, study: StudyRecord, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "project_id": project_id, "name": f"{study.name}-trial-{row['number']}",
        "pipeline": study.pipeline, "config": {**study.base_config, **row["params"]},
        "status": row["status"], "progress": 1.0 if row["status"] == "completed" else 0.5,
        "progress_message": "", "created_at": row["start"].timestamp(),
        "started_at": row["start"].timestamp(), "finished_at": row["end"].timestamp(),
        "error": "RuntimeError: boom" if row["status"] == "failed" else None,
        "requeue_lost": True, "attempts": 1, "result": {"objective": row["objective"]},
        "kind": "trial", "study_id": study.id, "trial_number": row["number"], "lease_epoch": 1,
    }  # fmt: skip
