"""The process an MLflow model is loaded and predicts in, apart from the API
(:mod:`~azuraforge.platform.services.mlflow_serving` starts it): ``python -m
azuraforge.platform.services.mlflow_worker FOLDER``, ``FOLDER`` being this machine's copy of
a registered version's files, checked against their digest.

It speaks JSON lines, never pickles, so the API reads nothing a model's code could make run:
it writes ``{"ready": true}`` once the model is loaded (or ``{"error": ..., "stage":
"load"}`` and ends), then answers each line ``{"rows": [...]}`` of standard input with
``{"columns": {name: [...]}}`` or ``{"error": ..., "stage": "predict"}``, until standard
input closes (the API stopped or dropped the model). The rows are read as MLflow's scoring
server reads ``dataframe_records``, against the model's signature. What the model's code
prints goes to standard error, not into the answers.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

PREDICTION = "prediction"
"""The column of a model that answers one value (or one array) per row."""


def main(folder: str) -> None:
    """Load the MLflow model in ``folder`` and answer predictions until standard input
    closes (see the module)."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the model's prints go to standard error
    sys.stdout = sys.stderr
    try:
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(folder)
        schema = model.metadata.get_input_schema()
    except Exception as e:  # the model's own code failed: say why, and end
        _send(answers, {"error": _described(e), "stage": "load"})
        return
    _send(answers, {"ready": True})
    for line in sys.stdin:
        _send(answers, _answer(model, schema, json.loads(line)["rows"]))


def _answer(model: Any, schema: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The predictions for ``rows`` as columns, or why there are none."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    try:
        data = infer_and_parse_data({"dataframe_records": rows}, schema)
        return {"columns": columns(model.predict(data))}
    except Exception as e:  # the rows do not fit the model, or its code failed on them
        return {"error": _described(e), "stage": "predict"}


def columns(raw: Any) -> dict[str, list[Any]]:
    """A model's predictions as columns: a data frame's (or a dict's) by name, one
    ``prediction`` column for one value or array per row, ``prediction_0``,
    ``prediction_1``... for a table of numbers.

    >>> import numpy as np
    >>> columns(np.array([1.5, 2.0]))
    {'prediction': [1.5, 2.0]}
    >>> columns(np.array([[0.25, 0.75]]))
    {'prediction_0': [0.25], 'prediction_1': [0.75]}
    """
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]  # MLflow requires it; we do not

    if isinstance(raw, pd.Series):
        raw = raw.to_frame(PREDICTION if raw.name is None else raw.name)
    if isinstance(raw, pd.DataFrame):
        return {str(name): raw[name].tolist() for name in raw.columns}
    if isinstance(raw, dict):
        return {str(name): np.asarray(values).tolist() for name, values in raw.items()}
    return _array_columns(np.asarray(raw))


def _array_columns(array: Any) -> dict[str, list[Any]]:
    """An array of predictions as columns: a table of numbers's one by one, else one
    ``prediction`` column."""
    if array.ndim == 2 and array.dtype.kind in "biuf":
        return {f"{PREDICTION}_{i}": array[:, i].tolist() for i in range(array.shape[1])}
    return {PREDICTION: array.reshape(-1).tolist() if array.ndim < 2 else array.tolist()}


def _described(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__}: {message}"


def _send(answers: IO[str], message: dict[str, Any]) -> None:
    answers.write(json.dumps(message, default=str) + "\n")
    answers.flush()


if __name__ == "__main__":
    main(sys.argv[1])
