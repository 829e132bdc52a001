"""digit-classifier on a slice of MNIST; predict from a CSV of pixels."""

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


def test_predict_from_a_pixel_csv_matches_the_labels(result, tmp_path):
    images = load_mnist().test_images[:50]
    rows = [",".join(str(v) for v in image.ravel()) for image in images]
    (tmp_path / "digits.csv").write_text("\n".join(["pixels", *rows]) + "\n")
    artifact = ModelArtifact.load(result.artifact_dir)
    classes = DigitClassifier().predict(artifact, tmp_path / "digits.csv")["digit"]
    assert classes.shape == (50,)
    assert (classes == load_mnist().test_labels[:50]).mean() > 0.8


def test_bad_inputs_are_explained(tmp_path):
    (tmp_path / "short.csv").write_text("1,2,3\n")
    with pytest.raises(DataFormatError, match="row 1 has 3 values, expected 784"):
        DigitClassifier().predict(None, tmp_path / "short.csv")
    (tmp_path / "scaled.csv").write_text(",".join(["0.5"] * 784) + "\n")
    with pytest.raises(DataFormatError, match="grey levels 0-255"):
        DigitClassifier().predict(None, tmp_path / "scaled.csv")
    with pytest.raises(InvalidParameterError, match="val_size"):
        DigitClassifier.make_config({"val_size": 10})
