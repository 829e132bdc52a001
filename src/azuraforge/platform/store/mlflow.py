"""What MLflow clients keep beside AzuraForge's runs, and MLflow's experiments: a named
grouping of one project's runs, never across projects (the project's default one, MLflow's
``"0"``, made when first asked for). The records and checks of MLflow's runs live here too;
the runs themselves (which experiment each is in, their params, the NaN values they log,
their search) are :mod:`.mlflow_runs`, the search's filters and orders :mod:`.mlflow_search`.


A run made through MLflow is an external run
(:mod:`~azuraforge.platform.store.external`): its metrics and params are written while it
runs and has had word within its idle limit; its tags at any time (:mod:`.tags`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    exists,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.store.external import ExternalRunStore
from azuraforge.platform.store.mlflow_search import (
    RunCondition,
    RunOrder,
    experiment_column,
    experiment_condition,
)
from azuraforge.platform.store.models import (
    MlflowExperiment,
    MlflowExperimentTag,
    MlflowRun,
)
from azuraforge.platform.store.records import ExperimentRecord
from azuraforge.platform.store.tags import check_key_value

DEFAULT_NAME = "Default"
"""The name of a project's default MLflow experiment (``"0"``), as MLflow's."""
ACTIVE, DELETED = "active", "deleted"
MAX_PARAM_KEY, MAX_PARAM_VALUE = 250, 6000
"""The longest param key and value (characters), as MLflow's."""
ARTIFACTS = "mlflow-artifacts:/"
"""Where MLflow clients send a run's files: this server's artifact proxy."""
NaNPoint = tuple[str, int, float]
"""(key, step, time) of a NaN value an MLflow client logged."""


@dataclass(frozen=True)
class MlflowExperimentRecord:
    """An MLflow experiment as stored: ``public_id`` is the id MLflow clients know (``"0"``
    for the project's default)."""

    id: int
    public_id: str
    name: str
    lifecycle: str
    artifact_location: str
    created_at: float
    updated_at: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MlflowRunRecord:
    """A run made through MLflow's API, its MLflow experiment, and the latest ``(value,
    step, time)`` of each of its metrics (the value at its highest step, NaN if that was)."""

    run: ExperimentRecord
    experiment: MlflowExperimentRecord
    latest: dict[str, tuple[float, int, float]]
    lifecycle: str = "active"
    """MLflow's lifecycle of the run: ``active`` or ``deleted`` (kept, restorable)."""
    user_id: str | None = None
    """The ``user_id`` MLflow's client sent making it (``None`` for a run made before it
    was kept)."""


MAX_EXPERIMENT_TAG_VALUE = 5000
"""The longest value of an experiment's tag (characters), as MLflow's."""


def check_param(key: str, value: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``key`` (1 to :data:`MAX_PARAM_KEY`
    characters) and ``value`` (at most :data:`MAX_PARAM_VALUE`) fit."""
    check_key_value("param", key, value, MAX_PARAM_KEY, MAX_PARAM_VALUE)


class MlflowStore(ExternalRunStore):
    """MLflow's experiments (groups of a project's runs). Safe from any number of threads and
    processes."""

    def get_mlflow_experiment(self, mlflow_id: int, *, project: str) -> MlflowExperimentRecord:
        """The project's MLflow experiment ``mlflow_id`` (0: its default, made if new),
        whatever its lifecycle, with its tags.

        Raises
        ------
        NotFoundError
            For an id of no experiment of the project (MLflow's words).
        """
        with self._begin() as connection:
            row = self._experiment_row(connection, mlflow_id, project)
            return mlflow_experiment_records(connection, [row])[0]

    def _experiment_row(self, connection: Connection, mlflow_id: int, project: str) -> Any:
        project_id = self._with_default(connection, project)
        condition = (
            MlflowExperiment.is_default.is_(True)
            if mlflow_id == 0
            else MlflowExperiment.id == mlflow_id
        )
        row = connection.execute(
            select(MlflowExperiment).where(MlflowExperiment.project_id == project_id, condition)
        ).first()
        if row is None:
            raise NotFoundError(f"No Experiment with id={mlflow_id} exists")
        return row

    def find_mlflow_experiment(self, name: str, *, project: str) -> MlflowExperimentRecord | None:
        """The project's MLflow experiment named ``name`` (active or deleted), or ``None``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            row = connection.execute(
                select(MlflowExperiment).where(
                    MlflowExperiment.project_id == project_id, MlflowExperiment.name == name
                )
            ).first()
            return None if row is None else mlflow_experiment_records(connection, [row])[0]

    def create_mlflow_experiment(
        self,
        name: str,
        *,
        project: str,
        artifact_location: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> MlflowExperimentRecord:
        """A new MLflow experiment ``name`` in the project, active, with ``tags``; its
        ``artifact_location`` is ``mlflow-artifacts:/<its id>`` unless given (checked by
        the caller: one of the server's own).

        Raises
        ------
        ConflictError
            When the project has an experiment of that name, deleted or not (MLflow's are
            unique).
        InvalidParameterError
            For a name of no character or over 500, a tag that does not fit.
        """
        _check_experiment_name(name)
        for key, value in (tags or {}).items():
            check_experiment_tag(key, value)
        now = time.time()
        try:
            with self._begin() as connection:
                project_id = self._with_default(connection, project)
                new_id = connection.execute(
                    insert(MlflowExperiment)
                    .values(project_id=project_id, name=name, is_default=False, lifecycle=ACTIVE,
                            artifact_location=artifact_location, created_at=now, updated_at=now)
                    .returning(MlflowExperiment.id)
                ).scalar_one()  # fmt: skip
                if not artifact_location:
                    connection.execute(
                        update(MlflowExperiment)
                        .where(MlflowExperiment.id == new_id)
                        .values(artifact_location=f"{ARTIFACTS}{new_id}")
                    )
                _write_experiment_tags(connection, new_id, tags or {})
        except IntegrityError:
            raise ConflictError(f"Experiment(name={name}) already exists.") from None
        return self.get_mlflow_experiment(new_id, project=project)

    def rename_mlflow_experiment(self, mlflow_id: int, name: str, *, project: str) -> None:
        """Rename the project's active MLflow experiment ``mlflow_id``.

        Raises
        ------
        NotFoundError
            For no such experiment.
        ConflictError
            When another experiment of the project has the name.
        InvalidParameterError
            For a deleted experiment, a name of no character or over 500.
        """
        _check_experiment_name(name)
        try:
            with self._begin() as connection:
                row = self._experiment_row(connection, mlflow_id, project)
                if row.lifecycle != ACTIVE:
                    raise InvalidParameterError("Cannot rename a non-active experiment.")
                connection.execute(
                    update(MlflowExperiment)
                    .where(MlflowExperiment.id == row.id)
                    .values(name=name, updated_at=time.time())
                )
        except IntegrityError:
            raise ConflictError(f"Experiment(name={name}) already exists.") from None

    def set_mlflow_experiment_lifecycle(
        self, mlflow_id: int, lifecycle: str, *, project: str
    ) -> None:
        """Delete (``lifecycle`` :data:`DELETED`) the project's active MLflow experiment
        ``mlflow_id``, or restore (:data:`ACTIVE`) a deleted one, with all of its runs, as
        MLflow does: their data is kept either way.

        Raises
        ------
        NotFoundError
            For no experiment of that id in the other lifecycle (MLflow's words).
        """
        now = time.time()
        with self._begin() as connection:
            row = self._experiment_row(connection, mlflow_id, project)
            if row.lifecycle == lifecycle:
                raise NotFoundError(f"No Experiment with id={mlflow_id} exists")
            connection.execute(
                update(MlflowExperiment)
                .where(MlflowExperiment.id == row.id)
                .values(lifecycle=lifecycle, updated_at=now)
            )
            connection.execute(
                update(MlflowRun)
                .where(MlflowRun.mlflow_experiment_id == row.id)
                .values(lifecycle=lifecycle, deleted_at=now if lifecycle == DELETED else None)
            )

    def set_mlflow_experiment_tag(
        self, mlflow_id: int, key: str, value: str | None, *, project: str
    ) -> None:
        """Set (``value``) or delete (``None``) a tag of the project's active MLflow
        experiment ``mlflow_id``.

        Raises
        ------
        NotFoundError
            For no such experiment, or no such tag to delete (MLflow's words).
        InvalidParameterError
            For a deleted experiment, a tag that does not fit.
        """
        if value is not None:
            check_experiment_tag(key, value)
        with self._begin() as connection:
            row = self._experiment_row(connection, mlflow_id, project)
            if row.lifecycle != ACTIVE:
                raise InvalidParameterError(
                    f"The experiment {mlflow_id} must be in the 'active' state. "
                    f"Current state is {row.lifecycle}."
                )
            if value is not None:
                _write_experiment_tags(connection, row.id, {key: value})
                return
            gone = connection.execute(
                delete(MlflowExperimentTag).where(
                    MlflowExperimentTag.mlflow_experiment_id == row.id,
                    MlflowExperimentTag.key == key,
                )
            ).rowcount
            if not gone:
                raise NotFoundError(f"No tag with name: {key} in experiment with id {mlflow_id}")

    def list_mlflow_experiments(
        self,
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        conditions: Sequence[RunCondition] = (),
        orders: Sequence[RunOrder] = (),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowExperimentRecord]:
        """The project's MLflow experiments in ``lifecycles`` that meet every condition
        (``attribute`` ones on :data:`EXPERIMENT_COLUMNS`, ``tag`` ones; ``IS NULL`` and
        ``IS NOT NULL`` on a tag), in ``orders`` (attributes; by default newest first),
        then by id, from ``offset``, at most ``limit``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            query = select(MlflowExperiment).where(
                MlflowExperiment.project_id == project_id,
                MlflowExperiment.lifecycle.in_(list(lifecycles)),
                *(experiment_condition(c) for c in conditions),
            )
            default = [RunOrder("attribute", "creation_time", False)]
            for order in orders or default:
                column = experiment_column(order.key)
                query = query.order_by(column.asc() if order.ascending else column.desc())
            rows = connection.execute(
                query.order_by(MlflowExperiment.id).offset(offset).limit(limit)
            ).all()
            return mlflow_experiment_records(connection, rows)

    def _with_default(self, connection: Connection, project: str) -> int:
        """The project's id, its default MLflow experiment made if it has none."""
        project_id = self.project_id(connection, project)
        made: set[int] = self.__dict__.setdefault("_mlflow_defaults", set())
        if project_id in made:
            return project_id
        has = connection.scalar(
            select(MlflowExperiment.id).where(
                MlflowExperiment.project_id == project_id, MlflowExperiment.is_default.is_(True)
            )
        )
        if has is None:
            now = time.time()
            # A concurrent request may make it first: its unique name refuses this one's,
            # and the transaction (whose caller reads it next) is retried by none: insert
            # only where no row of the project has the name yet, in one statement.
            row = select(
                literal(project_id),
                literal(DEFAULT_NAME),
                literal(True),
                literal(ACTIVE),
                literal(f"{ARTIFACTS}0"),
                literal(now),
                literal(now),
            )
            row = row.where(~exists().where(MlflowExperiment.project_id == project_id,
                                            MlflowExperiment.name == DEFAULT_NAME))  # fmt: skip
            connection.execute(
                insert(MlflowExperiment).from_select(
                    ["project_id", "name", "is_default", "lifecycle", "artifact_location",
                     "created_at", "updated_at"], row)
            )  # fmt: skip
        made.add(project_id)
        return project_id


def check_run_active(experiment_id: int, lifecycle: str | None) -> None:
    """Raise unless the run made through MLflow (of MLflow ``lifecycle``, ``None`` for no
    such run) is active, in MLflow's words.

    Raises
    ------
    NotFoundError
        For no such run.
    InvalidParameterError
        For a deleted run.
    """
    if lifecycle is None:
        raise NotFoundError(f"Run with id={experiment_id} not found")
    if lifecycle != ACTIVE:
        raise InvalidParameterError(
            f"The run {experiment_id} must be in the 'active' state. Current state is {lifecycle}."
        )


def check_experiment_tag(key: str, value: str) -> None:
    """Raise :class:`InvalidParameterError` unless an experiment's tag fits (a key of 1 to
    250 characters, a value of at most :data:`MAX_EXPERIMENT_TAG_VALUE`)."""
    check_key_value("tag", key, value, MAX_PARAM_KEY, MAX_EXPERIMENT_TAG_VALUE)


def _check_experiment_name(name: str) -> None:
    if not 1 <= len(name) <= 500:
        raise InvalidParameterError(
            f"Invalid experiment name: {name[:60]!r}: an experiment's name has 1 to 500 "
            f"characters, got {len(name)}"
        )


def _write_experiment_tags(
    connection: Connection, mlflow_id: int, tags: Mapping[str, str]
) -> None:
    """Set ``tags`` of the MLflow experiment (row id ``mlflow_id``), replacing those set."""
    if not tags:
        return
    connection.execute(
        delete(MlflowExperimentTag).where(
            MlflowExperimentTag.mlflow_experiment_id == mlflow_id,
            MlflowExperimentTag.key.in_(list(tags)),
        )
    )
    connection.execute(
        insert(MlflowExperimentTag),
        [{"mlflow_experiment_id": mlflow_id, "key": k, "value": v} for k, v in tags.items()],
    )


def mlflow_experiment_records(
    connection: Connection, rows: Sequence[Any]
) -> list[MlflowExperimentRecord]:
    """The records of MLflow experiment ``rows``, with their tags."""
    tags: dict[int, dict[str, str]] = {row.id: {} for row in rows}
    if rows:
        found = connection.execute(
            select(MlflowExperimentTag).where(
                MlflowExperimentTag.mlflow_experiment_id.in_(list(tags))
            ).order_by(MlflowExperimentTag.key)
        )  # fmt: skip
        for tag in found:
            tags[tag.mlflow_experiment_id][tag.key] = tag.value
    return [
        MlflowExperimentRecord(row.id, "0" if row.is_default else str(row.id), row.name,
                               row.lifecycle, row.artifact_location, row.created_at,
                               row.updated_at, tags[row.id])
        for row in rows
    ]  # fmt: skip
