"""What names a file of a project's data folder: the jobs whose configs name it (runs of
every kind, streams) and the registered versions made from such a run (their config is the
run's, kept when the run is deleted). A file they name is not deleted
(:mod:`~azuraforge.platform.services.data_files`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.models import (
    Experiment,
    ModelVersion,
    Param,
    RegisteredModel,
)


@dataclass(frozen=True)
class NamingJob:
    """A job whose config names a data file: its id, name, kind and status."""

    id: int
    name: str
    kind: str
    status: str


@dataclass(frozen=True)
class DataFileUses:
    """Who names a data file: jobs (``jobs``, by id) and registered versions (``versions``,
    ``(model, version)``, by model and number)."""

    jobs: list[NamingJob] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.jobs or self.versions)


class DataUseStore(StoreBase):
    """Finds what names a data file (:meth:`find_data_file_uses`)."""

    def find_data_file_uses(
        self, name: str, settings: Sequence[str], *, project: str = DEFAULT_PROJECT
    ) -> DataFileUses:
        """The jobs of ``project`` and its registered versions whose config holds ``name``
        (a file's name relative to the project's data folder, as configs store it) as the
        value of one of ``settings`` (the file settings: a forecaster's ``csv``, a stream's
        ``source``).

        >>> import tempfile
        >>> from azuraforge.platform.store import Store, upgrade_database
        >>> url = f"sqlite:///{tempfile.mkdtemp()}/af.db"
        >>> _ = upgrade_database(url); store = Store(url)
        >>> run = store.create_experiment("forecaster", {"csv": "sales.csv"}, name="f1")
        >>> store.find_data_file_uses("sales.csv", ["csv", "source"]).jobs[0].name
        'f1'
        >>> bool(store.find_data_file_uses("other.csv", ["csv", "source"]))
        False
        """
        if not settings:
            return DataFileUses()
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            # The configs' settings are flattened into params: their (key, value) index finds them.
            named = select(Param.experiment_id).where(
                Param.key.in_(list(settings)), Param.value == name
            )
            jobs = connection.execute(
                select(Experiment.id, Experiment.name, Experiment.kind, Experiment.status)
                .where(Experiment.project_id == project_id, Experiment.id.in_(named))
                .order_by(Experiment.id)
            ).all()
            versions = connection.execute(
                select(RegisteredModel.name, ModelVersion.version)
                .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
                .where(
                    RegisteredModel.project_id == project_id,
                    or_(*(ModelVersion.config[key].as_string() == name for key in settings)),
                )
                .order_by(RegisteredModel.name, ModelVersion.version)
            ).all()
        return DataFileUses(
            jobs=[NamingJob(row.id, row.name, row.kind, row.status) for row in jobs],
            versions=[(row.name, int(row.version)) for row in versions],
        )
