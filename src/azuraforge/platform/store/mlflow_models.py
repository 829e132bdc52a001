"""What MLflow 3 clients keep of models and data beside their runs: logged models (each made
within a run of one project, its files among that run's in ``models/<id>/``), their params,
tags and the metrics runs linked to them; the records of datasets (an MLflow experiment's, by
name and digest) and of what each run took in (datasets with input tags, logged models) and
made (logged models), whose writes and reads are :mod:`.mlflow_run_io`. Every read and write
names the project it is for, or a run whose project it is.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, case, delete, insert, literal, or_, select, update

from azuraforge.errors import InvalidParameterError, NotFoundError, shorten
from azuraforge.platform.store.mlflow import ACTIVE, ARTIFACTS, DELETED, MlflowStore, check_param
from azuraforge.platform.store.models import (
    Experiment,
    MlflowExperiment,
    MlflowLoggedModel,
    MlflowLoggedModelMetric,
    MlflowLoggedModelValue,
    MlflowRun,
)
from azuraforge.platform.store.tags import check_tag

PENDING, READY, FAILED = "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"
STATUSES = (PENDING, READY, FAILED)
"""A logged model's statuses, as MLflow names them."""
PARAM, TAG = "param", "tag"
INPUT, OUTPUT = "input", "output"
DatasetRef = tuple[str, str | None]
"""A dataset's name, and its digest or ``None`` for any."""
MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
"""The shape of a logged model's id, as MLflow makes them."""
_NAME_REFUSED = ("/", ":", ".", "%", '"', "'")


@dataclass(frozen=True)
class ModelMetric:
    """A metric value a run logged for logged model ``model_id`` (``timestamp`` in
    milliseconds; ``value`` NaN when MLflow's client sent one)."""

    model_id: str
    key: str
    value: float
    timestamp: int
    step: int
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: int = 0


@dataclass(frozen=True)
class LoggedModelRecord:
    """A logged model as stored: ``experiment_id`` is its MLflow experiment's public id,
    ``run_id`` the run it was made in, ``folder`` where its files are among that run's,
    ``artifact_location`` the URI MLflow's client reads and writes them at."""

    id: str
    experiment_id: str
    run_id: int
    name: str
    model_type: str | None
    status: str
    status_message: str | None
    lifecycle: str
    creator: str | None
    created_at: float
    updated_at: float
    artifact_location: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[ModelMetric] = field(default_factory=list)

    @property
    def folder(self) -> str:
        """The folder of the model's files, relative to its run's files."""
        return f"models/{self.id}"


@dataclass(frozen=True)
class ModelCondition:
    """One comparison of a logged-model filter: ``entity`` ``attribute`` (``key`` a column:
    ``name``, ``id``, ``model_type``, ``status``, ``run_id``, ``created_at``,
    ``updated_at``), ``param``, ``tag`` or ``metric`` (met by any of its values, as in
    MLflow); ``op`` one of ``= != > >= < <= LIKE ILIKE IN NOT IN``; ``value`` a number, a
    text or a tuple of them."""

    entity: str
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class ModelOrder:
    """One key of a logged-model ordering (``entity`` ``attribute``, or ``metric``: its
    latest value, among those computed on ``dataset`` when given)."""

    entity: str
    key: str
    ascending: bool
    dataset: DatasetRef | None = None


@dataclass(frozen=True)
class DatasetIn:
    """A dataset a run took in, as MLflow's client describes it, with its input ``tags``."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunIO:
    """What a run took in (``datasets``, ``model_inputs``: logged model ids) and made
    (``model_outputs``: ``(model id, step)``)."""

    datasets: list[DatasetIn] = field(default_factory=list)
    model_inputs: list[str] = field(default_factory=list)
    model_outputs: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset of an MLflow experiment (its public id) and a context it was used in."""

    experiment_id: str
    name: str
    digest: str
    context: str | None


def model_not_found(model_id: str) -> NotFoundError:
    """MLflow's error for a logged model that is not (or not the caller's project's)."""
    return NotFoundError(f"Logged model with ID {shorten(model_id, 60, quoted=True)} not found.")


def check_model_name(name: str) -> None:
    """Refuse a logged model's name MLflow refuses (empty, over 500 characters, or holding
    one of ``/ : . % " '``)."""
    if not name or len(name) > 500 or any(c in name for c in _NAME_REFUSED):
        raise InvalidParameterError(
            f"Invalid model name ({shorten(name, 60, quoted=True)}) provided. Model name must "
            f"be a non-empty string of at most 500 characters and cannot contain the "
            f"following characters: {_NAME_REFUSED}"
        )


class MlflowModelStore(MlflowStore):
    """MLflow's logged models, their params, tags and metrics. Safe from any number
    of threads and processes."""

    def create_logged_model(
        self,
        run_id: int,
        mlflow_id: int,
        *,
        project: str,
        name: str | None = None,
        model_type: str | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        creator: str | None = None,
    ) -> LoggedModelRecord:
        """A new logged model, ``LOGGED_MODEL_PENDING``, of the project's MLflow experiment
        ``mlflow_id`` (0: its default), made in its MLflow run ``run_id`` (its files go among
        that run's); named ``name`` (a random name when ``None``).

        Raises
        ------
        NotFoundError
            For a run or an MLflow experiment that is not the project's.
        InvalidParameterError
            For a name, param or tag that does not fit, or a deleted experiment.
        """
        params, tags = dict(params or {}), dict(tags or {})
        if name is not None:
            check_model_name(name)
        _check_values(PARAM, params)
        _check_values(TAG, tags)
        experiment = self.get_mlflow_experiment(mlflow_id, project=project)
        if experiment.lifecycle != ACTIVE:
            raise InvalidParameterError(
                f"MLflow experiment {experiment.public_id} is {experiment.lifecycle}: it takes "
                "no new logged models"
            )
        model_id, now = f"m-{secrets.token_hex(16)}", time.time()
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            self._mlflow_run_of(connection, run_id, project_id)
            connection.execute(
                insert(MlflowLoggedModel).values(
                    id=model_id, project_id=project_id, mlflow_experiment_id=experiment.id,
                    experiment_id=run_id, name=name or f"model-{secrets.token_hex(4)}",
                    model_type=model_type or None, status=PENDING, status_message=None,
                    lifecycle=ACTIVE, creator=creator, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            _insert_values(connection, model_id, PARAM, params)
            _insert_values(connection, model_id, TAG, tags)
            return _load(connection, [model_id])[0]

    def get_logged_model(
        self, model_id: str, *, project: str, allow_deleted: bool = False
    ) -> LoggedModelRecord:
        """The project's logged model ``model_id`` (a deleted one only if ``allow_deleted``).

        Raises
        ------
        NotFoundError
            For no such model of the project.
        """
        with self._read() as connection:
            self._model_row(connection, model_id, project, allow_deleted=allow_deleted)
            return _load(connection, [model_id])[0]

    def finalize_logged_model(
        self, model_id: str, status: str, *, project: str
    ) -> LoggedModelRecord:
        """Set the status of the project's logged model (one of :data:`STATUSES`); the
        model as it is then."""
        if status not in STATUSES:
            raise InvalidParameterError(
                f"a logged model's status is one of {', '.join(STATUSES)}; got "
                f"{shorten(str(status), 40, quoted=True)}"
            )
        with self._begin() as connection:
            self._model_row(connection, model_id, project, allow_deleted=True)
            connection.execute(
                update(MlflowLoggedModel)
                .where(MlflowLoggedModel.id == model_id)
                .values(status=status, updated_at=time.time())
            )
            return _load(connection, [model_id])[0]

    def delete_logged_model(self, model_id: str, *, project: str) -> None:
        """Mark the project's logged model deleted (its files stay its run's)."""
        with self._begin() as connection:
            self._model_row(connection, model_id, project, allow_deleted=True)
            connection.execute(
                update(MlflowLoggedModel)
                .where(MlflowLoggedModel.id == model_id)
                .values(lifecycle=DELETED, updated_at=time.time())
            )

    def set_logged_model_values(
        self, model_id: str, kind: str, values: Mapping[str, str], *, project: str
    ) -> None:
        """Set tags (``kind`` ``tag``: a key's value replaced) or log params (``param``: a
        param logged keeps its value, as MLflow's) of the project's logged model.

        Raises
        ------
        InvalidParameterError
            For a key or value that does not fit, or a param logged before with another
            value; nothing is written.
        """
        _check_values(kind, values)
        with self._begin() as connection:
            self._model_row(connection, model_id, project, allow_deleted=True)
            held = _values(connection, [model_id], kind).get(model_id, {})
            if kind == PARAM:
                for key, value in values.items():
                    if key in held and held[key] != value:
                        raise InvalidParameterError(
                            f"param {key!r} of logged model {model_id} was logged as "
                            f"{shorten(held[key], 60, quoted=True)}; a param's value does not "
                            "change"
                        )
            changed = {k: v for k, v in values.items() if held.get(k) != v}
            connection.execute(
                delete(MlflowLoggedModelValue).where(
                    MlflowLoggedModelValue.model_id == model_id,
                    MlflowLoggedModelValue.kind == kind,
                    MlflowLoggedModelValue.key.in_(list(changed)),
                )
            )
            _insert_values(connection, model_id, kind, changed)
            connection.execute(
                update(MlflowLoggedModel)
                .where(MlflowLoggedModel.id == model_id)
                .values(updated_at=time.time())
            )

    def delete_logged_model_tag(self, model_id: str, key: str, *, project: str) -> None:
        """Delete a tag of the project's logged model.

        Raises
        ------
        NotFoundError
            For no such model, or no tag ``key`` of it (MLflow's wording).
        """
        with self._begin() as connection:
            self._model_row(connection, model_id, project, allow_deleted=True)
            gone = connection.execute(
                delete(MlflowLoggedModelValue).where(
                    MlflowLoggedModelValue.model_id == model_id,
                    MlflowLoggedModelValue.kind == TAG,
                    MlflowLoggedModelValue.key == key,
                )
            ).rowcount
        if not gone:
            raise NotFoundError(
                f"No tag with key {shorten(key, 60, quoted=True)} found for model with ID "
                f"{model_id!r}."
            )

    def search_logged_models(
        self,
        mlflow_ids: Sequence[int],
        conditions: Sequence[ModelCondition] = (),
        orders: Sequence[ModelOrder] = (),
        *,
        project: str,
        datasets: Sequence[DatasetRef] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> list[LoggedModelRecord]:
        """The project's active logged models of its MLflow experiments ``mlflow_ids`` (0:
        the default) meeting every condition, in ``orders`` (then newest first), from
        ``offset``, at most ``limit``. With ``datasets``, a metric condition is met by a
        value computed on one of them, and without one a model needs such a value."""
        model = MlflowLoggedModel
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            query = (
                select(model.id)
                .join(MlflowExperiment, MlflowExperiment.id == model.mlflow_experiment_id)
                .where(model.project_id == project_id, model.lifecycle == ACTIVE)
                .where(in_groups(mlflow_ids))
                .where(*(_model_condition(c, datasets) for c in conditions))
            )
            if datasets and not any(c.entity == "metric" for c in conditions):
                query = query.where(_metric_exists(datasets))
            for order in orders:
                column = _order_column(order)
                ordered = column.asc() if order.ascending else column.desc()
                query = query.order_by(case((column.is_(None), 1), else_=0), ordered)
            query = query.order_by(model.created_at.desc(), model.id)
            ids = list(connection.scalars(query.offset(offset).limit(limit)))
            return _load(connection, ids)

    def log_model_metrics(self, experiment_id: int, metrics: Sequence[ModelMetric]) -> None:
        """Link ``metrics`` the run ``experiment_id`` logged to the logged models they name
        (each of the run's project), as MLflow's ``log_batch`` and ``log_metric`` with a
        ``model_id`` do beside writing them to the run.

        Raises
        ------
        NotFoundError
            For a model of no such id in the run's project (nothing is written).
        """
        if not metrics:
            return
        with self._begin() as connection:
            self._project_models(connection, experiment_id, {m.model_id for m in metrics})
            rows = [{"model_id": m.model_id, "experiment_id": experiment_id, "key": m.key,
                     "value": None if math.isnan(m.value) else m.value,
                     "timestamp": m.timestamp, "step": m.step, "dataset_name": m.dataset_name,
                     "dataset_digest": m.dataset_digest} for m in metrics]  # fmt: skip
            connection.execute(insert(MlflowLoggedModelMetric), rows)

    def _model_row(
        self, connection: Connection, model_id: str, project: str, *, allow_deleted: bool
    ) -> None:
        """Raise MLflow's not-found unless ``model_id`` is the project's (and active, unless
        ``allow_deleted``)."""
        project_id = self.project_id(connection, project)
        lifecycle = connection.scalar(
            select(MlflowLoggedModel.lifecycle).where(
                MlflowLoggedModel.id == model_id, MlflowLoggedModel.project_id == project_id
            )
        )
        if lifecycle is None or (lifecycle != ACTIVE and not allow_deleted):
            raise model_not_found(model_id)

    def _mlflow_run_of(self, connection: Connection, run_id: int, project_id: int) -> None:
        """Raise MLflow's not-found unless ``run_id`` is an MLflow run of the project."""
        found = connection.scalar(
            select(Experiment.project_id)
            .join(MlflowRun, MlflowRun.experiment_id == Experiment.id)
            .where(Experiment.id == run_id)
        )
        if found != project_id:
            raise NotFoundError(f"Run with id={run_id} not found")

    def _project_models(self, connection: Connection, run_id: int, ids: Iterable[str]) -> None:
        """Raise MLflow's not-found unless every logged model of ``ids`` is of the project
        of the run ``run_id``."""
        ids = set(ids)
        project_id = connection.scalar(
            select(Experiment.project_id).where(Experiment.id == run_id)
        )
        if project_id is None:
            raise NotFoundError(f"Run with id={run_id} not found")
        held = set(
            connection.scalars(
                select(MlflowLoggedModel.id).where(
                    MlflowLoggedModel.id.in_(list(ids)),
                    MlflowLoggedModel.project_id == project_id,
                )
            )
        )
        missing = sorted(ids - held)
        if missing:
            raise model_not_found(missing[0])


def _check_values(kind: str, values: Mapping[str, str]) -> None:
    for key, value in values.items():
        (check_param if kind == PARAM else check_tag)(key, value)


def _insert_values(
    connection: Connection, model_id: str, kind: str, values: Mapping[str, str]
) -> None:
    if values:
        rows = [{"model_id": model_id, "kind": kind, "key": k, "value": v}
                for k, v in values.items()]  # fmt: skip
        connection.execute(insert(MlflowLoggedModelValue), rows)


def _values(connection: Connection, ids: Sequence[str], kind: str) -> dict[str, dict[str, str]]:
    """The params or tags of each logged model of ``ids``, keys in order."""
    found: dict[str, dict[str, str]] = {}
    rows = connection.execute(
        select(MlflowLoggedModelValue.model_id, MlflowLoggedModelValue.key,
               MlflowLoggedModelValue.value)
        .where(MlflowLoggedModelValue.model_id.in_(list(ids)),
               MlflowLoggedModelValue.kind == kind)
        .order_by(MlflowLoggedModelValue.key)
    )  # fmt: skip
    for model_id, key, value in rows:
        found.setdefault(model_id, {})[key] = value
    return found


def _metrics(connection: Connection, ids: Sequence[str]) -> dict[str, list[ModelMetric]]:
    """The metrics linked to each logged model of ``ids``, in the order they were logged."""
    metric = MlflowLoggedModelMetric
    found: dict[str, list[ModelMetric]] = {}
    rows = connection.execute(
        select(*metric.__table__.c).where(metric.model_id.in_(list(ids))).order_by(metric.id)
    )
    for row in rows:
        value = math.nan if row.value is None else float(row.value)
        found.setdefault(row.model_id, []).append(
            ModelMetric(row.model_id, row.key, value, int(row.timestamp), int(row.step),
                        row.dataset_name, row.dataset_digest, row.experiment_id)
        )  # fmt: skip
    return found


def _load(connection: Connection, ids: Sequence[str]) -> list[LoggedModelRecord]:
    """The logged models ``ids``, in that order, with their params, tags and metrics."""
    if not ids:
        return []
    run_experiment = MlflowExperiment.__table__.alias("run_experiment")
    rows = connection.execute(
        select(*MlflowLoggedModel.__table__.c, MlflowExperiment.is_default,
               run_experiment.c.id.label("run_group"),
               run_experiment.c.is_default.label("run_group_default"))
        .join(MlflowExperiment, MlflowExperiment.id == MlflowLoggedModel.mlflow_experiment_id)
        .join(MlflowRun, MlflowRun.experiment_id == MlflowLoggedModel.experiment_id)
        .join(run_experiment, run_experiment.c.id == MlflowRun.mlflow_experiment_id)
        .where(MlflowLoggedModel.id.in_(list(ids)))
    ).all()  # fmt: skip
    by_id = {row.id: row for row in rows}
    params, tags = _values(connection, ids, PARAM), _values(connection, ids, TAG)
    metrics = _metrics(connection, ids)
    found = []
    for model_id in ids:
        row = by_id[model_id]
        public = "0" if row.is_default else str(row.mlflow_experiment_id)
        run_group = "0" if row.run_group_default else str(row.run_group)
        location = f"{ARTIFACTS}{run_group}/{row.experiment_id}/artifacts/models/{row.id}"
        found.append(
            LoggedModelRecord(
                row.id, public, row.experiment_id, row.name, row.model_type, row.status,
                row.status_message, row.lifecycle, row.creator, row.created_at,
                row.updated_at, location, params.get(model_id, {}), tags.get(model_id, {}),
                metrics.get(model_id, []),
            )
        )  # fmt: skip
    return found


_ATTRIBUTES = {"name": MlflowLoggedModel.name, "id": MlflowLoggedModel.id,
               "model_type": MlflowLoggedModel.model_type, "status": MlflowLoggedModel.status,
               "run_id": MlflowLoggedModel.experiment_id,
               "created_at": MlflowLoggedModel.created_at,
               "updated_at": MlflowLoggedModel.updated_at}  # fmt: skip
"""The columns a logged-model filter or ordering names by attribute."""


def in_groups(mlflow_ids: Sequence[int]) -> Any:
    """The condition on ``MlflowExperiment`` of the experiments ``mlflow_ids`` (0: the
    project's default)."""
    wanted = [MlflowExperiment.id.in_([i for i in mlflow_ids if i != 0])]
    if 0 in mlflow_ids:
        wanted.append(MlflowExperiment.is_default.is_(True))
    return or_(*wanted)


def _on_datasets(datasets: Sequence[DatasetRef]) -> list[Any]:
    """The condition on a model's metric rows of being computed on one of ``datasets``
    (none: ``[]``)."""
    metric = MlflowLoggedModelMetric
    if not datasets:
        return []
    return [or_(*(and_(metric.dataset_name == name,
                       metric.dataset_digest == digest if digest else literal(True))
                  for name, digest in datasets))]  # fmt: skip


def _metric_exists(datasets: Sequence[DatasetRef], *conditions: Any) -> Any:
    """Whether the logged model has a metric row meeting ``conditions``, on ``datasets``."""
    metric = MlflowLoggedModelMetric
    return (
        select(literal(1))
        .where(metric.model_id == MlflowLoggedModel.id, *conditions, *_on_datasets(datasets))
        .exists()
    )


def _latest_metric(key: str, dataset: DatasetRef | None) -> Any:
    """The latest value (last logged, then highest step) of metric ``key`` of the logged
    model, among those computed on ``dataset`` when given."""
    metric = MlflowLoggedModelMetric
    return (
        select(metric.value)
        .where(metric.model_id == MlflowLoggedModel.id, metric.key == key,
               *_on_datasets([dataset] if dataset else []))
        .order_by(metric.timestamp.desc(), metric.step.desc(), metric.id.desc())
        .limit(1)
        .scalar_subquery()
    )  # fmt: skip


def _model_condition(condition: ModelCondition, datasets: Sequence[DatasetRef]) -> Any:
    """The SQL of one :class:`ModelCondition` on a query of logged models (a metric's on
    ``datasets`` when given)."""
    key, op, value = condition.key, condition.op, condition.value
    if condition.entity == "attribute":
        return _compare(_ATTRIBUTES[key], op, value)
    if condition.entity == "metric":
        metric = MlflowLoggedModelMetric
        return _metric_exists(datasets, metric.key == key, _compare(metric.value, op, value))
    values = MlflowLoggedModelValue
    kind = PARAM if condition.entity == "param" else TAG
    return (
        select(literal(1))
        .where(values.model_id == MlflowLoggedModel.id, values.kind == kind, values.key == key,
               _compare(values.value, op, value))
        .exists()
    )  # fmt: skip


def _order_column(order: ModelOrder) -> Any:
    if order.entity == "metric":
        return _latest_metric(order.key, order.dataset)
    return _ATTRIBUTES[order.key]


def _compare(column: Any, op: str, value: Any) -> Any:
    if op in ("IN", "NOT IN"):
        listed = column.in_(list(value))
        return listed if op == "IN" else and_(column.is_not(None), ~listed)
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    return {"=": column == value, "!=": column != value, ">": column > value,
            ">=": column >= value, "<": column < value, "<=": column <= value}[op]  # fmt: skip
