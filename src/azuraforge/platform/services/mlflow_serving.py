"""MLflow models served: a registered version of MLflow's format (``pipeline`` ``"mlflow"``,
its files an MLflow model directory with ``MLmodel`` at its root) is loaded and predicts in a
process of its own (:mod:`~azuraforge.platform.services.mlflow_worker`), never in the API's.

An MLflow model is a pickle: loading it runs its author's code. So a version is served only
in a project that allows MLflow models
(:func:`~azuraforge.platform.services.project_settings.check_mlflow_models_allowed`, checked
at each request), only if what its ``MLmodel`` and ``requirements.txt`` name is installed
here (:func:`check_loadable`, read without loading the model: a 409 names the package to
install), and only in its process: a model that crashes, hangs or exits takes its process
down, not the API, which answers :class:`ModelFailedError` (422) and starts a new process at
the next request. The process is given the version's checked folder alone (never a path a
request names) and an environment without the server's (its secrets stay out of reach of the
model's environment; its files do not: docs/security.md says so).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from azuraforge.errors import AzuraForgeError, ConflictError, InvalidParameterError, shorten
from azuraforge.platform.blobs import BlobCache
from azuraforge.platform.services import mlflow_worker
from azuraforge.platform.services.project_settings import check_mlflow_models_allowed
from azuraforge.platform.services.registry import checked_folder
from azuraforge.platform.store import ModelVersionRecord
from azuraforge.platform.store.interfaces import ProjectSettings

MLFLOW_PIPELINE = "mlflow"
"""The ``pipeline`` of a version whose files are an MLflow model directory."""
MLMODEL = "MLmodel"
REQUIREMENTS = "requirements.txt"
PYFUNC = "python_function"
LOAD_SECONDS = 120.0
"""How long a model's process may take to start and load it before it is stopped."""
PREDICT_SECONDS = 60.0
"""How long one predict request may take in a model's process before it is stopped."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer a model's process may send for one request."""
PASSED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH")
"""The only variables of the server's environment a model's process gets (no credential,
no database or object store URL, no key)."""
MLFLOW_DISTRIBUTIONS = ("mlflow", "mlflow-skinny")
"""Either serves MLflow models (``mlflow`` in a model's requirements is met by either)."""
FLAVOR_PACKAGES = {
    "mlflow.sklearn": "scikit-learn", "mlflow.xgboost": "xgboost",
    "mlflow.lightgbm": "lightgbm", "mlflow.catboost": "catboost",
    "mlflow.pytorch": "torch", "mlflow.tensorflow": "tensorflow", "mlflow.keras": "keras",
    "mlflow.statsmodels": "statsmodels", "mlflow.prophet": "prophet",
    "mlflow.transformers": "transformers", "mlflow.onnx": "onnxruntime",
    "mlflow.spark": "pyspark", "mlflow.h2o": "h2o", "mlflow.spacy": "spacy",
}  # fmt: skip
"""The package each of MLflow's loaders needs, for a model without ``requirements.txt``."""


class ModelFailedError(AzuraForgeError):
    """An MLflow model's process failed: it crashed or exited (a segfault, ``os._exit``), did
    not answer in time, or its code could not load the model. The API stays up and answers
    422; the next request starts a new process."""


class RowsRefusedError(InvalidParameterError):
    """Rows an MLflow model cannot predict from (MLflow's message), too many rows, or a
    horizon (the API answers 422 ``INVALID_INPUT``, as for any model's)."""


def check_loadable(folder: Path, version: ModelVersionRecord) -> None:
    """Return if the MLflow model in ``folder`` (``version``'s files) can be loaded in this
    environment, reading its ``MLmodel`` and ``requirements.txt`` only (the model itself is
    not loaded: that runs its code).

    Raises
    ------
    ConflictError
        (409) Without ``MLmodel`` or a ``python_function`` flavor, or naming each package it
        needs that is not installed here.
    """
    which = f"model {version.model} version {version.version}"
    flavors = _flavors(folder, which)
    pyfunc = flavors.get(PYFUNC)
    if not isinstance(pyfunc, dict):
        raise ConflictError(
            f"{which} is an MLflow model without the {PYFUNC} flavor (its flavors: "
            f"{', '.join(map(str, flavors)) or 'none'}), so it cannot be served here; log it "
            "with a flavor that adds python_function (mlflow.sklearn, mlflow.pyfunc...)"
        )
    missing = [str(r) for r in _requirements(folder, pyfunc) if not _installed(r)]
    if missing:
        loader = pyfunc.get("loader_module", PYFUNC)
        raise ConflictError(
            f"{which} is an MLflow model (loaded by {loader}) that needs "
            f"{', '.join(missing)}, not installed in the server's environment: install it "
            f"there (pip install {' '.join(repr(m) for m in missing)}) and restart the server"
        )


def _flavors(folder: Path, which: str) -> dict[str, Any]:
    """The ``flavors`` of the ``MLmodel`` in ``folder``, read as plain YAML."""
    try:
        meta = yaml.safe_load((folder / MLMODEL).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConflictError(
            f"{which} is registered as an MLflow model but has no {MLMODEL} file at the root "
            "of its files; register the MLflow model's own folder"
        ) from None
    except OSError:  # a folder named MLmodel, say
        raise ConflictError(f"{which}: its {MLMODEL} is not a file that reads") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConflictError(f"{which}: its {MLMODEL} does not read as YAML: {e}") from None
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    return flavors if isinstance(flavors, dict) else {}


def _requirements(folder: Path, pyfunc: Mapping[str, Any]) -> list[Requirement]:
    """What the model needs: its ``requirements.txt`` (lines that are no requirement, such
    as ``-r`` or ``--index-url``, skipped; those of another platform too), else its loader's
    package; and MLflow, when they do not name it."""
    path = folder / REQUIREMENTS
    if path.is_file():
        needed = [r for r in map(_requirement, path.read_text(errors="replace").splitlines()) if r]
    else:
        package = FLAVOR_PACKAGES.get(str(pyfunc.get("loader_module")))
        needed = [Requirement(package)] if package else []
    if not any(canonicalize_name(r.name) in MLFLOW_DISTRIBUTIONS for r in needed):
        needed.insert(0, Requirement("mlflow"))
    return needed


def _requirement(line: str) -> Requirement | None:
    """The requirement of a line of ``requirements.txt`` that is one for this platform."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("-"):
        return None
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None  # a URL or a path: pip's to read, not ours
    marker = requirement.marker
    return requirement if marker is None or marker.evaluate({"extra": ""}) else None


def _installed(requirement: Requirement) -> bool:
    """Whether ``requirement``'s distribution is installed (any version: MLflow itself
    warns of a version other than the model's), without importing it."""
    name = canonicalize_name(requirement.name)
    names = MLFLOW_DISTRIBUTIONS if name in MLFLOW_DISTRIBUTIONS else (name,)
    for candidate in names:
        try:
            metadata.distribution(candidate)
        except metadata.PackageNotFoundError:
            continue
        return True
    return False


@dataclass(eq=False)
class MlflowModel:
    """A version of MLflow's format loaded in its own process, predicting one request at a
    time (:meth:`predict`); :meth:`close` stops the process."""

    version: ModelVersionRecord
    folder: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """The model's predictions for ``rows`` as columns, from its process (started, and
        the model loaded, if it is not running).

        Raises
        ------
        RowsRefusedError
            When the model refuses the rows or its code fails on them (MLflow's message).
        ModelFailedError
            When its process cannot load the model, ends or does not answer in time.
        """
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._started()
            answer = self._exchange({"rows": list(rows)}, PREDICT_SECONDS, "predicting")
        if "error" in answer:
            raise RowsRefusedError(f"the MLflow model refused the rows: {_why(answer)}")
        return _checked_columns(answer.get("columns"), self._which)

    def start(self) -> None:
        """Start the process and load the model (:class:`ModelFailedError` if it cannot)."""
        with self._lock:
            if self._process is None:
                self._process = self._started()

    def close(self) -> None:
        """Stop the process (once the request it is answering, if any, is answered)."""
        with self._lock:
            if self._process is not None:
                _stop(self._process)
                self._process = None

    @property
    def _which(self) -> str:
        return f"model {self.version.model} version {self.version.version}"

    def _started(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", mlflow_worker.__name__, str(self.folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=self.folder,
            env={k: v for k, v in os.environ.items() if k in PASSED_ENVIRONMENT},
        )  # fmt: skip
        self._process = process
        answer = self._exchange(None, LOAD_SECONDS, "loading it")
        if "error" in answer:
            _stop(process)
            raise ModelFailedError(f"{self._which}: MLflow could not load it: {_why(answer)}")
        return process

    def _exchange(
        self, message: dict[str, Any] | None, seconds: float, doing: str
    ) -> dict[str, Any]:
        """Send ``message`` (if any) to the process and read its answer (a JSON object on
        one line), the process stopped if it takes more than ``seconds``;
        :class:`ModelFailedError` if it ends or answers anything else."""
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        timer = threading.Timer(seconds, process.kill)
        timer.start()
        try:
            if message is not None:
                process.stdin.write(json.dumps(message).encode() + b"\n")
                process.stdin.flush()
            line = process.stdout.readline(MAX_ANSWER_BYTES)
        except (BrokenPipeError, ValueError):  # it ended: its pipes are closed
            line = b""
        finally:
            timer.cancel()
        answer = _decoded(line)
        if answer is not None:
            return answer
        _stop(process)
        self._process = None
        raise ModelFailedError(self._ended(process, seconds, doing, line))

    def _ended(
        self, process: subprocess.Popen[bytes], seconds: float, doing: str, line: bytes
    ) -> str:
        """Why the process failed while ``doing``, and what that means for the caller."""
        code = process.returncode
        if len(line) >= MAX_ANSWER_BYTES:
            why = f"answered more than {MAX_ANSWER_BYTES:,} bytes"
        elif line:
            why = "answered what is not a JSON object"
        elif code == -signal.SIGKILL:
            why = f"did not answer within {seconds:g} s (or ran out of memory) and was stopped"
        elif code is not None and code < 0:
            why = f"crashed ({_signal_name(-code)})"
        else:
            why = f"ended (exit code {code})"
        return (
            f"{self._which}: the MLflow model's process {why} while {doing}; the server is "
            "unaffected and starts a new process at the next request (its log has the "
            "model's output)"
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End ``process`` (closing its input first: it stops once it has answered)."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _signal_name(number: int) -> str:
    """``SIGSEGV`` for 11, ``signal 40`` for a number without a name.

    >>> _signal_name(11), _signal_name(40)
    ('SIGSEGV', 'signal 40')
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _why(answer: dict[str, Any]) -> str:
    """The error a model's process answered, as a message shows it (at most 2,000
    characters)."""
    return shorten(str(answer["error"]), 2000)


def _decoded(line: bytes) -> dict[str, Any] | None:
    """The JSON object of a whole answer line (NaN and infinities read as null), else None."""
    if not line.endswith(b"\n"):
        return None
    try:
        answer = json.loads(line, parse_constant=lambda _: None)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _checked_columns(found: Any, which: str) -> dict[str, list[Any]]:
    """``found`` if it is columns of equal length (what a model's process must answer)."""
    if (
        isinstance(found, dict)
        and found
        and all(isinstance(values, list) for values in found.values())
        and len({len(values) for values in found.values()}) == 1
    ):
        return found
    raise ModelFailedError(
        f"{which}: the MLflow model's predictions are not columns of equal length: "
        f"{shorten(json.dumps(found), 200)}"
    )


def load_mlflow_model(
    store: ProjectSettings, cache: BlobCache, version: ModelVersionRecord, project: str
) -> MlflowModel:
    """``version`` (of MLflow's format) loaded in its own process, if its project allows
    MLflow models and what it needs is installed here.

    Raises
    ------
    PermissionDeniedError
        (403) While the project does not allow MLflow models.
    ConflictError
        (409) When its files changed since registration, or it needs a package not installed
        here (named).
    ModelFailedError
        When its process cannot load it.
    """
    check_mlflow_models_allowed(store, project)
    folder = checked_folder(cache, version)
    check_loadable(folder, version)
    model = MlflowModel(version, folder)
    model.start()
    return model


def predict(
    store: ProjectSettings,
    project: str,
    model: MlflowModel,
    rows: Sequence[Mapping[str, Any]],
    horizon: int | None,
    max_rows: int,
) -> tuple[dict[str, list[Any]], None]:
    """The predictions of ``model`` for ``rows`` (read as MLflow's ``dataframe_records``),
    while ``project`` allows MLflow models; no history (an MLflow model has none).

    Raises
    ------
    PermissionDeniedError
        While the project does not allow MLflow models.
    RowsRefusedError
        For a horizon, too many rows, or rows the model refuses.
    ModelFailedError
        When its process fails (see :class:`ModelFailedError`).
    """
    check_mlflow_models_allowed(store, project)
    if horizon is not None:
        raise RowsRefusedError(
            "horizon is for AzuraForge's forecasters; an MLflow model predicts from the rows "
            "alone: send them without it"
        )
    if len(rows) > max_rows:
        raise RowsRefusedError(
            f"{len(rows):,} rows; a predict request takes at most {max_rows:,} "
            "(max_predict_rows): send fewer"
        )
    return model.predict(rows), None
