"""`digit-classifier`: a CNN on MNIST, scored on the official 10,000 test images beside the
majority-class baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from azuraforge.apps.base import (
    SETTINGS_CONFLICT,
    RunResult,
    TrainingConfig,
    TrainingPipeline,
    train_model,
)
from azuraforge.core import nn
from azuraforge.errors import DataFormatError
from azuraforge.learn import RunContext, Trainer, predict
from azuraforge.learn.artifact import ModelArtifact, fingerprint
from azuraforge.learn.datasets import CsvTable, load_mnist, read_csv, rows_table
from azuraforge.learn.metrics import accuracy, confusion_matrix, f1, precision, recall
from azuraforge.learn.reports import Report, plots
from azuraforge.learn.timeseries import StandardScaler

CLASSES = [str(d) for d in range(10)]
PIXELS = 28 * 28
MNIST_TRAIN_IMAGES = 60_000


class DigitConfig(TrainingConfig):
    """Settings of the digit classifier (the training settings, then the model's)."""

    epochs: int = Field(6, ge=1, description="Most epochs to train.")
    patience: int = Field(2, ge=1, description="Epochs without validation gain before stopping.")
    batch_size: int = Field(128, ge=1, description="Images per batch.")
    channels: int = Field(32, ge=1, description="Filters of the first convolution (x2 after).")
    hidden_size: int = Field(128, ge=1, description="Units of the dense layer.")
    dropout: float = Field(0.25, ge=0.0, lt=1.0, description="Dropout before the output layer.")
    val_size: int = Field(5000, ge=100, description="Training images held out for validation.")
    max_train: int | None = Field(None, ge=500, description="Use fewer training images (quick).")

    @model_validator(mode="after")
    def _leaves_training_images(self) -> DigitConfig:
        """``val_size`` is checked against the training images before any is loaded."""
        images = self.max_train or MNIST_TRAIN_IMAGES
        if self.val_size >= images:
            of = f"max_train={images}" if self.max_train else f"MNIST's {images} training images"
            raise PydanticCustomError(
                SETTINGS_CONFLICT,
                f"val_size={self.val_size} leaves no training images of {of}: set val_size "
                f"below {images}"
                + (f" or max_train above {self.val_size}" if self.max_train else ""),
            )
        return self


def build_cnn(channels: int, hidden_size: int, dropout: float) -> nn.Sequential:
    """conv 3x3 -> ReLU -> pool -> conv 3x3 -> ReLU -> pool -> dense -> ReLU -> dropout -> 10."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * channels * 5 * 5, hidden_size), nn.ReLU(),
        nn.Dropout(dropout), nn.Linear(hidden_size, 10),
    )  # fmt: skip


def _pixels(images: np.ndarray, scaler: StandardScaler) -> np.ndarray:
    """uint8 images (n, 28, 28) -> scaled float32 (n, 1, 28, 28)."""
    mean, std = scaler.fitted_column(0)
    scaled: np.ndarray = ((images.astype(np.float32) - mean) / std)[:, None]
    return scaled


class DigitClassifier(TrainingPipeline[DigitConfig]):
    """Handwritten digits 0-9 from 28x28 grey images (MNIST, official 60k/10k split; the
    validation images are carved from the end of the training part)."""

    name = "digit-classifier"
    description = "CNN on MNIST digits, scored on the official 10k test set vs majority class."
    Config = DigitConfig

    def train_and_score(self, config: DigitConfig, ctx: RunContext) -> RunResult:
        data = load_mnist()
        train_images, train_labels = data.train_images, data.train_labels.astype(np.int64)
        if config.max_train is not None:
            train_images, train_labels = (
                train_images[: config.max_train],
                train_labels[: config.max_train],
            )
        fit_images, val_images = train_images[: -config.val_size], train_images[-config.val_size :]
        fit_labels, val_labels = train_labels[: -config.val_size], train_labels[-config.val_size :]
        scaler = _pixel_scaler(fit_images)
        model = build_cnn(config.channels, config.hidden_size, config.dropout)
        trainer = train_model(
            model, nn.CrossEntropyLoss(), (_pixels(fit_images, scaler), fit_labels),
            (_pixels(val_images, scaler), val_labels), config, ctx,
        )  # fmt: skip
        test_labels = data.test_labels.astype(np.int64)
        predicted = trainer.predict(_pixels(data.test_images, scaler)).argmax(axis=1)
        majority = np.full_like(test_labels, np.bincount(fit_labels).argmax())
        scores = (("Accuracy", accuracy), ("Precision (macro)", precision),
                  ("Recall (macro)", recall), ("F1 (macro)", f1))  # fmt: skip
        metrics = {
            name: {"model": score(test_labels, predicted),
                   "majority class": score(test_labels, majority)}
            for name, score in scores
        }  # fmt: skip
        artifact = ModelArtifact(
            model=model,
            preprocessing={"pixels": scaler},
            features=["pixels 28x28"],
            config=config.model_dump(mode="json"),
            metrics=metrics,
            data_fingerprint=fingerprint(fit_images, fit_labels),
            seed=config.seed,
            pipeline=self.name,
        )
        report = self._report(ctx.output_dir, trainer, test_labels, predicted, metrics, config)
        note = (
            f"train {len(fit_images)}, validation {len(val_images)}, test {len(test_labels)} "
            f"images; epochs run: {len(trainer.history['loss'])}"
        )
        return self.finish(ctx, artifact, report, trainer, note)

    def _report(
        self,
        directory: Path,
        trainer: Trainer,
        labels: np.ndarray,
        predicted: np.ndarray,
        metrics: dict[str, dict[str, float]],
        config: DigitConfig,
    ) -> Report:
        report = Report(directory, f"{self.name}: {self.description}")
        report.text(
            "Official MNIST split; validation (early stopping) carved from the end of the "
            f"training images ({config.val_size}); pixel scaling fitted on training images only."
        )
        report.table("Test set (10,000 images)", metrics)
        figures = directory / "plots"
        report.image(
            "Training and validation loss",
            plots.loss_curves(trainer.history, figures / "loss.png"),
        )
        matrix = confusion_matrix(labels, predicted, labels=list(range(10)))
        confusion = plots.confusion_matrix(matrix, CLASSES, figures / "confusion.png")
        report.image("Confusion matrix", confusion)
        return report

    def predict(self, artifact: ModelArtifact, inputs: Path) -> dict[str, np.ndarray]:
        """The digit in each image of ``inputs``, a UTF-8 CSV file of one image a line: 784 grey
        levels 0-255 (28x28, row by row, 0 background, 255 ink).

        The first line is a header only when none of its fields reads as a number (``nan``
        reads as one, so a data row is never dropped as a header). A header column named
        ``label`` (Kaggle's ``train.csv``) is ignored. A value that is not a finite number or
        not within 0-255 is refused, naming its line and column. The result has the columns
        ``image`` (the image's rank in the file, from 1) and ``digit``."""
        return _classify(artifact, _pixel_images(read_csv(inputs, header="auto")))

    def predict_rows(
        self,
        artifact: ModelArtifact,
        rows: Sequence[Mapping[str, Any]],
        *,
        horizon: int | None = None,
    ) -> dict[str, np.ndarray]:
        """:meth:`predict` for images sent as rows of 784 grey levels (objects whose keys name
        the pixels, in order; a ``label`` key is ignored), read in memory."""
        if horizon is not None:
            return super().predict_rows(artifact, rows, horizon=horizon)  # refuses it
        return _classify(artifact, _pixel_images(rows_table(rows)))


def _classify(artifact: ModelArtifact, images: np.ndarray) -> dict[str, np.ndarray]:
    """The digit of each of ``images`` (n, 28, 28) by rank from 1."""
    scaler = cast(StandardScaler, artifact.preprocessing["pixels"])
    logits = predict(artifact.model, _pixels(images, scaler), batch_size=256)
    return {"image": np.arange(1, len(images) + 1), "digit": logits.argmax(axis=1)}


def _pixel_scaler(images: np.ndarray) -> StandardScaler:
    """One mean and standard deviation over every training pixel."""
    pixels = images.astype(np.float64)
    return StandardScaler.from_state_dict(
        {"kind": "standard", "mean": [pixels.mean()], "std": [pixels.std()]}
    )


def _pixel_images(table: CsvTable) -> np.ndarray:
    """(n, 28, 28) grey levels from a table of one image a row (``DigitClassifier.predict``)."""
    names = _pixel_columns(table)
    pixels = table.matrix(names)
    _check_grey_levels(table, names, pixels)
    return pixels.astype(np.float32).reshape(-1, 28, 28)


def _pixel_columns(table: CsvTable) -> list[str]:
    """The table's columns but its label: the 784 pixels of an image, row by row."""
    has_label = table.has_header and table.has_column("label")
    label = table.find_column("label") if has_label else None
    names = [name for name in table.column_names if name != label]
    if len(names) != PIXELS:
        first = table.header_line or table.lines[0]
        raise DataFormatError(
            f"{table.place(first)}: {len(names)} pixel values, expected {PIXELS} (the 28x28 grey "
            "levels of one image, row by row, one image a line)"
        )
    return names


def _check_grey_levels(table: CsvTable, names: list[str], pixels: np.ndarray) -> None:
    """Refuse a value outside 0-255, and images scaled to 0-1."""
    outside = (pixels < 0) | (pixels > 255)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        problem = f"expected a grey level 0-255, got {table.column(names[column])[row]!r}"
        raise table.error(row, [names[column]], problem)
    # Only fractions say "scaled to 0-1": a blank image (all 0) is a valid image.
    if pixels.max() <= 1 and (pixels != np.round(pixels)).any():
        raise DataFormatError(
            f"{table.path}: every pixel is between 0 and 1 ({pixels.min():g} to "
            f"{pixels.max():g}); expected grey levels 0-255 as in MNIST (multiply the values "
            "by 255)"
        )
