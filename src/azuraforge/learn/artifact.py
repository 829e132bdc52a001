"""`ModelArtifact`: everything needed to predict again, exactly, in one directory.

``model.npz`` holds the architecture and weights (:func:`azuraforge.core.save`);
``artifact.json`` holds the fitted preprocessing, feature list, config (the user's settings),
the values the run chose itself, metrics, a fingerprint
of the training data, the package version, the git commit when known and the seed. Loading
both and predicting on the same raw rows reproduces the predictions made at the end of
training.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge import __version__
from azuraforge.core import load, nn, save
from azuraforge.errors import InvalidParameterError, NotFoundError, SchemaMismatchError, shorten
from azuraforge.learn.timeseries import Transform, from_state
from azuraforge.learn.trainer import TrainingSummary

FORMAT_VERSION = 1


def fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 over the shapes, dtypes and bytes of ``arrays``: the same data, the same print.

    Examples
    --------
    >>> fingerprint(np.arange(3)) == fingerprint(np.arange(3))
    True
    >>> fingerprint(np.arange(3)) == fingerprint(np.arange(4))
    False
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the AzuraForge checkout the code runs from, or ``None`` when it is not
    run from a git checkout of AzuraForge (e.g. an installed package inside another repo)."""
    here = Path(__file__)
    try:
        subprocess.run(
            ["git", "ls-files", "--error-unmatch", here.name],
            cwd=path or here.parent, capture_output=True, timeout=5, check=True,
        )  # fmt: skip
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path or here.parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


@dataclass
class ModelArtifact:
    """A trained model with what it needs to predict from raw inputs.

    Parameters
    ----------
    model
        The trained module.
    preprocessing
        Fitted transforms by name (e.g. ``{"features": StandardScaler, "target": ...}``).
    features
        Names of the input columns, in order.
    config
        The pipeline configuration that produced the model, as the user set it.
    chosen_settings
        Values the run chose from the data for settings ``config`` leaves unset (``None``),
        by setting name: a forecaster's ``blend`` weight and ``blend_with`` anchor chosen on
        the validation part. ``predict`` reads them from here; re-running ``config`` chooses
        them again.
    data
        What reading the data did that the model rests on: ``fill``, what ``missing=fill``
        inserted and filled (the fields of :class:`~azuraforge.learn.datasets.FillReport`).
    selection
        Why the run chose its ``chosen_settings`` (a forecaster's validation MAE of each
        candidate and the sentence its report gives), and what the choice needs to predict
        that is not a transform: a forecaster's ``anchor_tables`` (the climatology it is
        blended with, set by the user or chosen). Empty when neither applies.
    metrics
        Test metrics, each beside its baselines.
    data_fingerprint
        :func:`fingerprint` of the training data.
    seed
        The random seed of the run.
    pipeline
        Name of the pipeline that made it.
    training
        How training ended (status, epochs completed and planned, stop reason); ``None``
        for artifacts written before it was recorded.
    """

    model: nn.Module
    preprocessing: dict[str, Transform] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    chosen_settings: dict[str, float | str] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    seed: int | None = None
    pipeline: str = ""
    training: TrainingSummary | None = None
    package_version: str = __version__
    git_commit: str | None = None

    def save(self, directory: str | Path) -> Path:
        """Write ``model.npz`` and ``artifact.json`` into ``directory``; returns it."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        save(self.model, target / "model.npz")
        meta = {
            "format_version": FORMAT_VERSION,
            "pipeline": self.pipeline,
            "features": self.features,
            "preprocessing": {k: t.state_dict() for k, t in self.preprocessing.items()},
            "config": self.config,
            "chosen_settings": self.chosen_settings,
            "selection": self.selection,
            "data": self.data,
            "metrics": self.metrics,
            "data_fingerprint": self.data_fingerprint,
            "seed": self.seed,
            "training": None if self.training is None else asdict(self.training),
            "package_version": self.package_version,
            "git_commit": self.git_commit if self.git_commit is not None else git_commit(),
        }
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".artifact.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(meta, f, indent=2, default=_plain)
            os.replace(tmp, target / "artifact.json")
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    @classmethod
    def load(cls, directory: str | Path) -> ModelArtifact:
        """Read an artifact directory written by :meth:`save`.

        Raises
        ------
        NotFoundError
            If the directory or one of its two files is missing.
        SchemaMismatchError
            If ``artifact.json`` is damaged (not JSON, not an object, a key missing or of
            another type, a transform state that does not rebuild its transform) or from a
            newer format; the message names the file and the key.
        """
        source = Path(directory)
        meta_path = source / "artifact.json"
        if not meta_path.exists() or not (source / "model.npz").exists():
            raise NotFoundError(
                f"no model artifact at {source}: it needs artifact.json and model.npz (the "
                "directory a run printed as its artifact)"
            )
        meta = _read_meta(meta_path)
        preprocessing = _transforms(meta_path, meta["preprocessing"])
        model = load(source / "model.npz")
        model.eval()
        return cls(
            model=model,
            preprocessing=preprocessing,
            features=meta["features"],
            config=meta["config"],
            chosen_settings=meta["chosen_settings"],
            selection=meta["selection"],
            data=meta["data"],
            metrics=meta["metrics"],
            data_fingerprint=meta["data_fingerprint"],
            seed=meta["seed"],
            pipeline=meta["pipeline"],
            training=_training(meta_path, meta["training"]),
            package_version=meta["package_version"],
            git_commit=meta["git_commit"],
        )


# The keys of artifact.json: the JSON types each holds and how to say so. ``training``,
# ``chosen_settings``, ``selection`` and ``data`` are optional: artifacts written before they
# were recorded lack them.
_META_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "format_version": ((int,), "an integer"),
    "pipeline": ((str,), "a string"),
    "features": ((list,), "a list of column names (strings)"),
    "preprocessing": ((dict,), "an object of transform states by name"),
    "config": ((dict,), "an object"),
    "chosen_settings": ((dict,), "an object of numbers or names by setting name"),
    "selection": ((dict,), "an object"),
    "data": ((dict,), "an object"),
    "metrics": ((dict,), "an object"),
    "data_fingerprint": ((str,), "a string"),
    "seed": ((int, type(None)), "an integer or null"),
    "training": ((dict, type(None)), "an object or null"),
    "package_version": ((str,), "a string"),
    "git_commit": ((str, type(None)), "a string or null"),
}
_META_DEFAULTS: dict[str, Any] = {
    "training": None,
    "chosen_settings": {},
    "selection": {},
    "data": {},
}


def _read_meta(meta_path: Path) -> dict[str, Any]:
    """The fields of ``artifact.json``, each present and of its type (:data:`_META_FIELDS`)."""
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as e:
        raise _damaged(meta_path, f"it is not JSON ({e})") from e
    if not isinstance(meta, dict):
        raise _damaged(
            meta_path,
            f"it holds a JSON {_json_type(meta)}, expected an object of artifact fields "
            f"({', '.join(_META_FIELDS)})",
        )
    meta = {**_META_DEFAULTS, **meta}
    _check_field(meta_path, meta, "format_version")
    if meta["format_version"] > FORMAT_VERSION:
        raise SchemaMismatchError(
            f"{meta_path} has format version {meta['format_version']}; this AzuraForge reads "
            f"up to {FORMAT_VERSION}: upgrade azuraforge"
        )
    for key in _META_FIELDS:
        _check_field(meta_path, meta, key)
    _check_items(meta_path, "features", meta["features"], (str,))
    _check_items(meta_path, "chosen_settings", meta["chosen_settings"].values(), (int, float, str))
    return meta


def _check_field(meta_path: Path, meta: dict[str, Any], key: str) -> None:
    types, expected = _META_FIELDS[key]
    if key not in meta:
        raise _damaged(meta_path, f"key {key!r} is missing (expected {expected})")
    value = meta[key]
    if not isinstance(value, types) or isinstance(value, bool):  # JSON true is no integer
        raise _damaged(meta_path, f"key {key!r} is {_shown(value)}, expected {expected}")


def _check_items(meta_path: Path, key: str, items: Iterable[Any], types: tuple[type, ...]) -> None:
    """Every item of the list or object of ``key`` is of ``types`` (a JSON bool never is)."""
    odd = [item for item in items if not isinstance(item, types) or isinstance(item, bool)]
    if odd:
        expected = _META_FIELDS[key][1]
        raise _damaged(meta_path, f"key {key!r} holds {_shown(odd[0])}, expected {expected}")


_TRAINING_EXPECTED = (
    'an object like {"status": "completed", "epochs_completed": 7, "epochs_planned": 12, '
    '"stop_reason": "..."} with status "completed" or "cancelled"'
)


def _training(meta_path: Path, value: dict[str, Any] | None) -> TrainingSummary | None:
    """The :class:`TrainingSummary` of key ``training``; ``None`` when not recorded."""
    if not value:
        return None
    if not _is_training_summary(value):
        problem = f"key 'training' is {_shown(value)}, expected {_TRAINING_EXPECTED}"
        raise _damaged(meta_path, problem)
    return TrainingSummary(**value)


def _is_training_summary(value: dict[str, Any]) -> bool:
    types = {"status": str, "epochs_completed": int, "epochs_planned": int, "stop_reason": str}
    return (
        types.keys() - {"stop_reason"} <= value.keys() <= types.keys()
        and all(isinstance(v, types[k]) and not isinstance(v, bool) for k, v in value.items())
        and value["status"] in ("completed", "cancelled")
    )


def _transforms(meta_path: Path, states: dict[str, Any]) -> dict[str, Transform]:
    """The fitted transforms of ``preprocessing``; a state that does not rebuild is damage."""
    transforms = {}
    for name, state in states.items():
        try:
            transforms[name] = from_state(state)
        except (InvalidParameterError, NotFoundError) as e:
            where = f"key 'preprocessing', transform {name!r}"
            raise _damaged(meta_path, f"{where}: {e}") from e
    return transforms


def _damaged(meta_path: Path, problem: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"{meta_path} is damaged: {problem}; restore the file, or run the pipeline again"
    )


def _shown(value: Any) -> str:
    """``value`` as JSON, cut short, with its JSON type: ``"2" (a string)``."""
    text = shorten(json.dumps(value, default=str))
    return text if value is None else f"{text} ({_json_type(value, article=True)})"


_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _json_type(value: Any, *, article: bool = False) -> str:
    name = _JSON_TYPES.get(type(value), "number")
    if not article or value is None:
        return name
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars and arrays inside metrics and config."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
