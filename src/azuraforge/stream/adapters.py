"""River's models behind our learner interface, so a River classifier or regressor runs
wherever ours do (prequential evaluation, ensembles, the benchmarks).

River is not a dependency of AzuraForge: install it (``pip install river``) to use these.
River keeps what a model learned in Python objects that only pickle can save, and nothing
here unpickles, so an adapted model cannot be snapshotted: :meth:`state_dict` says so
instead of saving something that would not restore.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Classifier, Columns, Features, Learner, Regressor, rows

NO_SNAPSHOT = (
    "River models keep their state in objects only pickle saves, and AzuraForge does not "
    "unpickle; snapshot one of azuraforge.stream's own learners instead"
)


class _River(Learner):
    def __init__(self, model: Any) -> None:
        if not hasattr(model, "learn_one"):
            raise InvalidParameterError(
                f"{type(self).__name__}: needs a River model (with learn_one), got "
                f"{type(model).__name__}"
            )
        self.model = model

    def clone(self) -> Any:
        return type(self)(self.model.clone())

    def learn_one(self, x: Features, y: Any = None) -> None:
        self.model.learn_one(x, y)

    def learn_many(self, X: Columns, y: Any = None) -> None:
        """River's ``learn_many`` on a DataFrame where the model has one (a mini-batch
        step), otherwise ``learn_one`` over the rows."""
        if hasattr(self.model, "learn_many"):
            import pandas as pd  # type: ignore[import-untyped]  # River requires it; we do not

            self.model.learn_many(pd.DataFrame(dict(X)), pd.Series(np.asarray(y)))
            return
        for x, target in zip(rows(X), np.asarray(y).tolist(), strict=True):
            self.model.learn_one(x, target)

    def state_dict(self) -> dict[str, Any]:
        raise InvalidParameterError(f"{type(self).__name__}.state_dict: {NO_SNAPSHOT}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise InvalidParameterError(f"{type(self).__name__}.load_state_dict: {NO_SNAPSHOT}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r})"


class RiverClassifier(_River, Classifier):
    """A River classifier as an AzuraForge :class:`~azuraforge.stream.base.Classifier`:
    ``RiverClassifier(preprocessing.StandardScaler() | linear_model.LogisticRegression())``."""

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        return dict(self.model.predict_proba_one(x))


class RiverRegressor(_River, Regressor):
    """A River regressor as an AzuraForge :class:`~azuraforge.stream.base.Regressor`."""

    def predict_one(self, x: Features) -> float:
        return float(self.model.predict_one(x))
