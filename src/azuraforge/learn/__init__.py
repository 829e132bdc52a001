"""The learner: training loop and callbacks, datasets, time-series preparation, metrics.

Imports the core and NumPy; matplotlib and Rich only where plots and progress bars are made.
Never imports the platform: apps hand it a run context instead.
"""

from azuraforge.learn.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedule,
    ModelCheckpoint,
    ProgressBar,
    RunLogger,
)
from azuraforge.learn.context import LocalContext, RunContext
from azuraforge.learn.loader import ArrayDataset, DataLoader
from azuraforge.learn.trainer import Trainer, TrainingSummary, predict

__all__ = [
    "ArrayDataset",
    "Callback",
    "DataLoader",
    "EarlyStopping",
    "LRSchedule",
    "LocalContext",
    "ModelCheckpoint",
    "ProgressBar",
    "RunContext",
    "RunLogger",
    "Trainer",
    "TrainingSummary",
    "predict",
]
