""":class:`Run`, what :func:`~azuraforge.track.start_run` answers: the calls a training
loop makes, each of which only queues what it was given (a ``deque.append``: no lock, no
I/O), for the run's sender thread (:mod:`~azuraforge.track.sender`) to send."""

from __future__ import annotations

import atexit
import json
import math
import numbers
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any

from azuraforge.errors import InvalidParameterError
from azuraforge.system_metrics import SystemSampler
from azuraforge.track.sender import Item, Sender, log
from azuraforge.track.sinks import Sink
from azuraforge.track.spool import Spool

MAX_PROGRESS = 2**31 - 1
"""The largest ``done`` or ``total`` of a run's progress a server keeps."""
MAX_PROGRESS_MESSAGE = 200
"""The longest progress message a server keeps."""

COMPLETED, FAILED = "completed", "failed"
END_TIMEOUT = 30.0
"""Seconds a run's end waits at most for the server to take what is left, and the end."""


class Run:
    """A run tracked from this process: log to it from the training loop, leave its ``with``
    block (or call :meth:`end`) to end it. Made by :func:`~azuraforge.track.start_run`.

    Every method returns at once and never raises for the tracking's sake: what it logs is
    queued, and sent by a thread of the run (about once a second), kept on disk while the
    server is away and sent, once, when it answers again.

    Thread safety: log from any thread; calls of one thread are sent in their order.
    """

    def __init__(
        self, sink: Sink, spool: Spool, created: tuple[Any, ...], *, interval: float,
        end_timeout: float, system_interval: float = 0.0,
    ) -> None:  # fmt: skip
        self._queue: deque[Item] = deque()
        self._sampler = (
            SystemSampler(self._log_system, system_interval) if system_interval else None
        )
        self._sender = Sender(self._queue, sink, spool, created, interval)
        self._spool, self._end_timeout = spool, end_timeout
        self._steps = 0
        self._files = 0
        self._params: dict[str, str] = {}
        self._model: dict[str, Any] = {}
        self._scores: dict[str, Any] = {}
        self._notes: list[str] = []
        self._ended = threading.Lock()
        self.status: str | None = None
        """How the run ended (``completed``, ``failed``), once it did."""

    def start(self) -> Run:
        """Make the run (now if the server answers, else as soon as it does) and start its
        sender and heartbeat threads; the run (:func:`~azuraforge.track.start_run` calls
        it)."""
        self._sender.start()
        if self._sampler is not None:
            self._sampler.start()
        return self

    @property
    def id(self) -> int | None:
        """The run's id on the platform (``None`` until the server has answered once)."""
        return self._sender.run_id

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked the run to stop (from the dashboard, or ``azuraforge
        runs cancel``): stop at your next step and leave the block."""
        return self._sender.cancel_requested

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Queue one value of each metric of ``metrics`` (name: number, a tensor of one value
        too) at ``step`` (default: how many ``log_metrics`` calls came before this one).
        Values that are not finite numbers are not sent (said once in the log)."""
        if step is None:
            step = self._steps
        self._steps += 1
        self._queue.append((dict(metrics), step, time.time()))

    def _log_system(self, metrics: dict[str, float], step: int) -> None:
        """Queue a sample of this process (its own steps: the training's go on unchanged)."""
        self._queue.append((metrics, step, time.time()))

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Queue one value of the metric ``key`` (as :meth:`log_metrics`)."""
        self.log_metrics({key: value}, step)

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Say how far the run is: ``done`` of ``total`` (epochs, steps, files), and a short
        ``message`` (``"epoch 3"``), shown as the progress bar on its page and in the run
        list (sent with the next batch; a later call replaces an earlier one).

        Raises
        ------
        InvalidParameterError
            At once, if ``done`` or ``total`` is not a whole number from 0 to 2**31 - 1,
            ``done`` is above ``total``, or ``message`` is longer than 200 characters.
        """
        counts: dict[str, object] = {"done": done, "total": total}  # as called, unchecked
        for name, value in counts.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral)
                or not 0 <= int(value) <= MAX_PROGRESS
            ):
                raise InvalidParameterError(
                    f"progress: {name} must be a whole number from 0 to {MAX_PROGRESS}, "
                    f"got {value!r}"
                )
        if done > total:
            raise InvalidParameterError(f"progress: done ({done}) is above total ({total})")
        if len(str(message)) > MAX_PROGRESS_MESSAGE:
            raise InvalidParameterError(
                f"progress: the message is {len(str(message))} characters, at most "
                f"{MAX_PROGRESS_MESSAGE}"
            )
        self._queue.append(
            (None, ("progress", (int(done), int(total), str(message))), time.time())
        )

    def log_params(self, params: dict[str, Any]) -> None:
        """Keep parameters of the run found after it started (those known at the start go
        to :func:`~azuraforge.track.start_run`'s ``params``, the run's config): sent with
        its end, as text, under ``params`` in its result."""
        self._params.update({str(key): str(value) for key, value in params.items()})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Queue tags of the run (key: its value as text; a key it has gets the new value):
        shown on its page, the run list filters by them (``tag=key:value``)."""
        kept = {str(key): str(value) for key, value in tags.items()}
        self._queue.append((None, ("tags", kept), time.time()))

    def note(self, text: str) -> None:
        """Add ``text`` to the run's notes (shown on its page: what this run's notes say,
        each on a line of its own, replacing notes edited elsewhere meanwhile), and a line
        of its log (shown live)."""
        self._notes.append(text)
        self.log(f"note: {text}")
        self._queue.append((None, ("notes", "\n".join(self._notes)), time.time()))

    def log(self, message: str, level: str = "INFO") -> None:
        """Queue a line of the run's log (``level``: ``DEBUG``, ``INFO``, ``WARNING``,
        ``ERROR`` or ``CRITICAL``)."""
        self._queue.append((str(message), level, time.time()))

    def log_scores(self, scores: dict[str, Any]) -> None:
        """Keep ``scores`` as the run's test scores: numbers, or dicts of them, as a
        pipeline's result holds them (``{"MAE": {"model": 0.91, "persistence": 1.05}}``).
        They are sent with the run's end under ``metrics`` in its result, so lists show,
        sort and filter the run by ``metrics.MAE.model`` beside pipeline runs that scored the
        same way; a later call adds to (and replaces) what an earlier one kept.

        Raises
        ------
        InvalidParameterError
            At once, for a name that is not text or a value that is neither a finite number
            nor a dict of them (nothing of that call is kept).
        """
        _merge(self._scores, _checked_scores(scores, "scores"))

    def log_artifact(self, path: str, name: str | None = None) -> None:
        """Keep the local file ``path`` among the run's files, as ``name`` (default its file
        name): copied into the spool at once (change or delete yours after), uploaded by the
        sender. A file that cannot be read is said in the log, not raised."""
        self._files += 1
        try:
            kept = self._spool.keep_file(path, self._files)
        except OSError as e:
            log.warning("tracking: the file %s was not kept (%s)", path, e)
            return
        self._queue.append((None, ("file", kept, name or Path(path).name), time.time()))

    def log_model(self, model: Any, name: str = "model") -> None:
        """Keep ``model``, an :class:`azuraforge.learn.artifact.ModelArtifact`, as the run's
        model, in the format a pipeline run saves its own: its ``model.npz`` and
        ``artifact.json`` among the run's files under ``name`` (a folder), and ``name`` as
        the run's ``artifact_dir``, so that once the run completed it is registered
        (``azuraforge models register NAME RUN``) and served as a pipeline run's model is,
        by the pipeline its ``pipeline`` names. Its ``metrics`` (test scores beside their
        baselines, if it has any) become the run's test scores. The model is written into
        the spool at once (train it on after the call: what was logged stays), then sent
        as :meth:`log_artifact`'s files are; a later call makes its model the run's.

        Raises
        ------
        TypeError
            If ``model`` is not a ``ModelArtifact`` (a model of another library, a bare
            ``azuraforge.core.nn.Module``: wrap it in one).
        InvalidParameterError
            If the artifact names no pipeline to serve it, or ``name`` is not a folder name
            inside the run's files.
        """
        artifact = sys.modules.get("azuraforge.learn.artifact")  # loaded if model is one
        if artifact is None or not isinstance(model, artifact.ModelArtifact):
            raise TypeError(
                "log_model takes an azuraforge.learn.artifact.ModelArtifact (an "
                "azuraforge.core.nn model with its preprocessing and the pipeline that serves "
                f"it, as pipelines save theirs); got {type(model).__module__}."
                f"{type(model).__qualname__}"
            )
        if not model.pipeline:
            raise InvalidParameterError(
                "the model names no pipeline to serve it: set its pipeline to an installed "
                "pipeline's name (azuraforge pipelines), such as 'digit-classifier'"
            )
        folder = _folder_name(name)
        self._files += 1
        try:
            saved = model.save(self._spool.folder / "files" / f"{self._files:06d}-model")
        except OSError as e:
            log.warning("tracking: the model %s was not kept (%s)", folder, e)
            return
        for file in ("model.npz", "artifact.json"):  # artifact.json last: it says it is whole
            when = time.time()
            self._queue.append((None, ("file", str(saved / file), f"{folder}/{file}"), when))
        self._model = {"artifact_dir": folder}
        if model.metrics:
            self._model["metrics"] = json.loads(json.dumps(model.metrics, default=float))

    def log_adapter(
        self, path: str, *, expert: str, base_model: str, metrics: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None, name: str = "adapter",
    ) -> None:  # fmt: skip
        """Keep a LoRA adapter of the assistant (a GGUF file at ``path``) as the run's model:
        ``adapter.gguf`` and an ``artifact.json`` (pipeline ``assist-adapter``, the
        ``expert`` it serves, its ``base_model``, its ``metrics`` and ``config``: training
        data and settings) among the run's files under ``name``, which becomes the run's
        ``artifact_dir``. Once the run completed, registering it
        (``azuraforge models register expert-<expert> RUN``) makes it the expert's next
        version; the chat follows that model's ``champion`` alias (docs/assist.md).

        Raises
        ------
        InvalidParameterError
            If ``expert`` or ``base_model`` is empty, ``metrics`` are not finite numbers (or
            dicts of them), or ``name`` is not a folder name inside the run's files.
        """
        from azuraforge.assist.adapters.registry import ADAPTER_PIPELINE, GGUF_FILE

        if not expert.strip() or not base_model.strip():
            raise InvalidParameterError("log_adapter needs the expert and the base model")
        scores = _checked_scores(metrics or {}, "metrics")
        folder = _folder_name(name)
        meta = {"pipeline": ADAPTER_PIPELINE, "expert": expert, "base_model": base_model,
                "metrics": scores, "config": config or {}}  # fmt: skip
        self._files += 1
        try:
            kept = self._spool.keep_file(path, self._files)
            described = self._spool.folder / "files" / f"{self._files:06d}-artifact.json"
            described.write_text(json.dumps(meta, default=str))
        except OSError as e:
            log.warning("tracking: the adapter %s was not kept (%s)", path, e)
            return
        when = time.time()
        self._queue.append((None, ("file", kept, f"{folder}/{GGUF_FILE}"), when))
        self._queue.append((None, ("file", str(described), f"{folder}/artifact.json"), when))
        self._model = {"artifact_dir": folder, **({"metrics": scores} if scores else {})}

    def end(self, status: str = COMPLETED, error: str | None = None) -> None:
        """Send what is left, then end the run as ``status`` (``completed``, ``failed``
        with ``error``, or ``cancelled``), waiting at most ``end_timeout`` seconds for the
        server; a second call does nothing."""
        if not self._ended.acquire(blocking=False):
            return
        _OPEN.discard(self)
        if self._sampler is not None:
            self._sampler.stop()
        self.status = status
        result: dict[str, Any] = dict(self._model)
        if self._scores:
            result["metrics"] = _merge(dict(result.get("metrics", {})), self._scores)
        if self._params:
            result["params"] = self._params
        self._sender.finish(status, error, result or None, self._end_timeout)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        if kind is None:
            self.end(COMPLETED)
        else:
            self.end(FAILED, describe(kind, error))


def _checked_scores(scores: Any, path: str) -> dict[str, Any]:
    """``scores`` copied, each leaf a float; an :class:`InvalidParameterError` naming the
    first name or value that is not one (``path``: where ``scores`` sits)."""
    if not isinstance(scores, dict):
        raise InvalidParameterError(f"{path} must be a dict of numbers, got {scores!r}")
    checked: dict[str, Any] = {}
    for name, value in scores.items():
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"{path}: a score's name must be text, got {name!r}")
        where = f"{path}.{name}"
        if isinstance(value, dict):
            checked[name] = _checked_scores(value, where)
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidParameterError(f"{where} must be a number or a dict, got {value!r}")
        elif not math.isfinite(value):
            raise InvalidParameterError(f"{where} must be a finite number, got {value}")
        else:
            checked[name] = float(value)
    return checked


def _merge(into: dict[str, Any], scores: dict[str, Any]) -> dict[str, Any]:
    """``into`` with ``scores`` merged in, dict by dict (a number replaces what was there)."""
    for name, value in scores.items():
        kept = into.get(name)
        into[name] = _merge(dict(kept), value) if isinstance(value, dict) and isinstance(
            kept, dict) else value  # fmt: skip
    return into


def _folder_name(name: str) -> str:
    """``name`` as a folder inside a run's files: relative, of ``/``-separated parts, none
    empty, ``.`` or ``..``.

    >>> _folder_name("models/best")
    'models/best'
    >>> _folder_name("../model")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: the model's name '../model' is not a folder inside the run's files: give parts such as 'model' or 'models/best' (no '..', no leading '/')
    """  # noqa: E501
    parts = name.split("/")
    if not name or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise InvalidParameterError(
            f"the model's name {name!r} is not a folder inside the run's files: give parts "
            "such as 'model' or 'models/best' (no '..', no leading '/')"
        )
    return name


def describe(kind: type[BaseException], error: BaseException | None) -> str:
    """What a run that raised ``error`` ended with: its type and message.

    >>> describe(ValueError, ValueError("loss is nan"))
    'ValueError: loss is nan'
    """
    told = "".join(traceback.format_exception_only(kind, error)).strip()
    return told[:10_000]


_OPEN: set[Run] = set()
"""Runs not ended yet: :func:`_end_open_runs` ends them when the interpreter exits."""
_UNCAUGHT: list[str] = []
"""The exception that ended the program, if one did (noted by the hook :func:`opened` sets)."""
_HOOKED: list[bool] = []
"""Whether :func:`opened` set its hooks (once a process)."""


def opened(run: Run) -> Run:
    """Remember ``run`` to end it at exit if nobody does (the first time, the exit hook and
    an ``excepthook`` that notes what ended the program are set)."""
    if not _HOOKED:
        _HOOKED.append(True)
        atexit.register(_end_open_runs)
        previous = sys.excepthook

        def _noting_hook(kind: Any, error: Any, trace: Any) -> None:
            _UNCAUGHT.append(describe(kind, error))
            previous(kind, error, trace)

        sys.excepthook = _noting_hook
    _OPEN.add(run)
    return run


def _end_open_runs() -> None:
    """At exit: end each run still open, ``failed`` with the exception that ended the
    program if one did, else ``completed``, after sending what it holds."""
    for run in list(_OPEN):
        if _UNCAUGHT:
            run.end(FAILED, _UNCAUGHT[-1])
        else:
            run.end(COMPLETED)
