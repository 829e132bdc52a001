"""A run's group: what the run list shows and filters its runs by beside their pipelines.

A run made through MLflow's API belongs to an MLflow experiment of its project
(:mod:`~azuraforge.platform.store.mlflow`): its group is that experiment's name. Any other
run's group is its pipeline (an ``azuraforge.track`` run's ``experiment=``, an external
run's ``pipeline``, a pipeline's name): so ``mlflow.set_experiment("cifar")`` and
``track.start_run(experiment="cifar")`` land in one group, ``cifar``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, or_

from azuraforge.platform.store.models import Experiment, MlflowExperiment, MlflowRun


def in_group(name: str) -> Any:
    """The condition on :class:`Experiment` rows of the runs of group ``name``: those of the
    MLflow experiment of that name (in their own project: names are unique in one), and the
    others whose pipeline it is."""
    of_mlflow = exists().where(MlflowRun.experiment_id == Experiment.id)
    named = exists().where(
        MlflowRun.experiment_id == Experiment.id,
        MlflowExperiment.id == MlflowRun.mlflow_experiment_id,
        MlflowExperiment.name == name,
    )
    return or_(named, and_(Experiment.pipeline == name, ~of_mlflow))
