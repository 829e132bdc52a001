"""digit-classifier on a slice of MNIST; predict from a CSV of pixels."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from azuraforge.apps.digits import DigitClassifier
from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import load_mnist

SLICE = {"max_train": 3000, "val_size": 500, "epochs": 3, "channels": 16, "hidden_size": 64}


@pytest.fixture(scope="module")
def result(tmp_path_factory, real_data):
    pipeline = DigitClassifier()
    ctx = LocalContext(output_dir=tmp_path_factory.mktemp("digits"))
    return pipeline.run(pipeline.make_config(SLICE), ctx)


def test_beats_the_majority_class_by_far(result):
    accuracy = result.metrics["Accuracy"]
    assert accuracy["model"] > 0.85 and accuracy["majority class"] < 0.15
    assert (result.report_path.parent / "plots" / "confusion.png").exists()


def pixel_rows(count: int) -> list[str]:
    images = load_mnist().test_images[:count]
    return [",".join(str(v) for v in image.ravel()) for image in images]


def write(tmp_path: Path, lines: list[str], name: str = "digits.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def predict_without_a_model(path: Path) -> np.ndarray:
    """For inputs refused before the model is used."""
    return DigitClassifier().predict(None, path)["digit"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        ",".join(f"pixel{i}" for i in range(784)),
        "label," + ",".join(f"p{i}" for i in range(784)),
    ],
    ids=["no header", "pixel names", "kaggle label column"],
)
def test_predict_from_a_pixel_csv_matches_the_labels(result, tmp_path, header):
    rows = pixel_rows(50)
    if header is not None and header.startswith("label"):
        rows = [
            f"{label},{row}" for label, row in zip(load_mnist().test_labels, rows, strict=False)
        ]
    path = write(tmp_path, rows if header is None else [header, *rows])
    artifact = ModelArtifact.load(result.artifact_dir)
    output = DigitClassifier().predict(artifact, path)
    assert output["image"].tolist() == list(range(1, 51))
    assert output["digit"].shape == (50,)
    assert (output["digit"] == load_mnist().test_labels[:50]).mean() > 0.8


def test_a_nan_pixel_is_refused_with_its_line_and_column(tmp_path, real_data):
    rows = pixel_rows(3)
    values = rows[1].split(",")
    values[1] = "nan"
    rows[1] = ",".join(values)
    path = write(tmp_path, rows)
    with pytest.raises(DataFormatError) as caught:
        predict_without_a_model(path)
    assert str(caught.value) == f"{path}, line 2, column 2: expected a number, got 'nan'"


def test_a_first_row_with_nan_is_not_taken_for_a_header(tmp_path, real_data):
    rows = pixel_rows(3)
    rows[0] = "nan" + rows[0][rows[0].index(",") :]
    path = write(tmp_path, rows)
    with pytest.raises(
        DataFormatError, match=r"digits\.csv, line 1, column 1: expected a number, got 'nan'"
    ):
        predict_without_a_model(path)


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_pixel_is_refused(tmp_path, real_data, blank):
    header = ",".join(f"pixel{i}" for i in range(784))
    rows = pixel_rows(2)
    rows[1] = rows[1][: rows[1].rindex(",") + 1] + blank
    path = write(tmp_path, [header, *rows])
    with pytest.raises(
        DataFormatError, match=r"line 3, column 784 \('pixel783'\): expected a number, got ''"
    ):
        predict_without_a_model(path)


def test_a_binary_file_is_refused(tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(b"0,0,0\n"))
    with pytest.raises(
        DataFormatError, match=r"digits\.csv\.gz is not a UTF-8 text CSV file: line 1"
    ):
        predict_without_a_model(path)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1,2,3"], r"short\.csv, line 1: 3 pixel values, expected 784 \(the 28x28 grey levels"),
        (["a,b", "1,2"], r"short\.csv, line 1: 2 pixel values, expected 784"),
        (["1,2", "1,2,3"], r"short\.csv, line 2: 3 fields, expected 2 \(as on line 1\)"),
        (["pixels"], r"short\.csv: no data rows after the header"),
        ([""], r"short\.csv is empty"),
    ],
)
def test_bad_shapes_are_explained(tmp_path, lines, message):
    with pytest.raises(DataFormatError, match=message):
        predict_without_a_model(write(tmp_path, lines, "short.csv"))


def test_pixels_outside_0_to_255_are_refused(tmp_path):
    values = ["0"] * 784
    values[30] = "256"
    with pytest.raises(
        DataFormatError, match=r"line 2, column 31: expected a grey level 0-255, got '256'"
    ):
        predict_without_a_model(write(tmp_path, [",".join(["0"] * 784), ",".join(values)]))
    with pytest.raises(DataFormatError, match=r"every pixel is between 0 and 1 \(0\.5 to 0\.5\)"):
        predict_without_a_model(write(tmp_path, [",".join(["0.5"] * 784)]))


def test_images_scaled_to_0_1_are_refused_even_with_blank_pixels(tmp_path):
    values = ["0"] * 784
    values[100:110] = ["0.25"] * 10
    with pytest.raises(
        DataFormatError, match=r"every pixel is between 0 and 1 \(0 to 0\.25\); expected grey"
    ):
        predict_without_a_model(write(tmp_path, [",".join(values)]))


@pytest.mark.parametrize("pixels", [["0"] * 784, ["0", "1"] * 392], ids=["blank", "0 and 1"])
def test_a_file_of_whole_grey_levels_up_to_1_is_predicted(result, tmp_path, pixels):
    path = write(tmp_path, [",".join(pixels)] * 2)
    output = DigitClassifier().predict(ModelArtifact.load(result.artifact_dir), path)
    assert output["image"].tolist() == [1, 2]
    assert output["digit"].shape == (2,) and set(output["digit"]) <= set(range(10))


def test_val_size_must_leave_training_images():
    with pytest.raises(InvalidParameterError, match="val_size"):
        DigitClassifier.make_config({"val_size": 10})
    with pytest.raises(InvalidParameterError) as refused:
        DigitClassifier.make_config({"max_train": 500})  # refused before any image is loaded
    assert str(refused.value) == (
        "bad settings for digit-classifier: val_size=5000 leaves no training images of "
        "max_train=500: set val_size below 500 or max_train above 5000"
    )
    with pytest.raises(InvalidParameterError, match="of MNIST's 60000 training images"):
        DigitClassifier.make_config({"val_size": 60_000})
    assert DigitClassifier.make_config({"max_train": 600, "val_size": 500}).val_size == 500
