"""The intent router: cheap rules, then embeddings and a calibrated linear classifier.

:meth:`IntentRouter.route` answers in three ways, named in :attr:`Route.source`:

- ``"rule"``: with the code rules on, a pasted Python error or traceback is ``code_debug``
  without asking the model;
- ``"model"``: the classifier's intent, when its calibrated probability reaches the
  threshold (0.7 by default). With the code rules on, a message that looks like code only
  chooses between ``code_python`` and ``code_debug``; so does one whose two code intents
  together reach the threshold ("write a function that reverses a string" may be split
  between them, and the Python expert answers both);
- ``"fallback"``: below the threshold the message goes to the router's fallback label
  (``general_chat`` for the shipped router), and :attr:`Route.candidate` keeps what the model
  would have said.

A router knows its own labels: its fallback is one of them, and the code rules are on only
when asked for or when ``code_debug`` is a label, so a router trained on other labels never
answers one it does not have.

The classifier is a softmax layer of the core trained with AdamW on the embeddings, each
intent's examples weighed inversely to their count; its probabilities are calibrated by
temperature scaling on a held-out fifth of the data's templates, held out whole (Guo et al.,
2017), before it is trained again on all of it. A trained router is two files in one
folder (``router.json``, ``weights.npz``); loading reads nothing else and unpickles nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.assist.embeddings import (
    E5,
    Embedder,
    default_embedder,
    embedder_named,
    has_python_error,
)
from azuraforge.assist.intents import FALLBACK_INTENT, INTENTS, Example, load_examples
from azuraforge.core import Generator, Tensor, nn, optim, use_generator
from azuraforge.errors import DataFormatError, InvalidParameterError, SchemaMismatchError

FORMAT_VERSION = 1

_CODE = re.compile(r"```|^\s*(def|class|import|from|for|while|if|return)\b.*[:)]\s*$", re.M)
_CODE_INTENTS = ("code_python", "code_debug")


@dataclass(frozen=True)
class Route:
    """Where a message goes, how sure the router is and why.

    ``confidence`` is the calibrated probability of ``intent`` (of ``candidate`` after a
    fallback; 1.0 for a rule), except for a message that looks like code, where it is the
    probability among the two code intents only. So a route of two code intents that reach
    the threshold together may carry a confidence below it.
    ``scores`` holds every intent's calibrated probability (empty for a rule);
    ``candidate`` is the model's choice when the threshold sent the message to the fallback.
    """

    intent: str
    confidence: float
    source: str
    candidate: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0


@dataclass
class TrainingSettings:
    """How the classifier is fitted; the defaults suit a few thousand sentences."""

    epochs: int = 60
    batch_size: int = 128
    lr: float = 0.05
    weight_decay: float = 1e-3
    holdout: float = 0.2
    seed: int = 0
    balanced: bool = True
    """Weigh each intent's examples inversely to their count (every intent counts as much in
    the loss), so an intent with twice the sentences does not pull the others' messages."""


class IntentRouter:
    """Routes a message to one of ``labels`` (see the module docstring for how).

    Parameters
    ----------
    embedder
        Turns texts into rows (:func:`~azuraforge.assist.embeddings.default_embedder`).
    threshold
        Calibrated probability below which a message goes to the fallback label.
    fallback
        The label of a message below the threshold; :meth:`fit` picks ``general_chat`` when
        it is a label and refuses labels without it unless one is named here.
    code_rules
        Whether pasted errors go to ``code_debug`` by rule and code only chooses between the
        code intents; :meth:`fit` turns them on when ``code_debug`` is a label.

    Examples
    --------
    >>> from azuraforge.assist.embeddings import CharNgrams
    >>> data = [Example("merhaba nasılsın", "general_chat"),
    ...         Example("selam naber", "general_chat"),
    ...         Example("write a python function", "code_python"),
    ...         Example("python ile liste sırala", "code_python"),
    ...         Example("my loop never ends", "code_debug"),
    ...         Example("kodum yanlış sonuç veriyor", "code_debug")]
    >>> router = IntentRouter(CharNgrams(dim=512), threshold=0.0).fit(data)
    >>> router.route("KeyError: 'name'").intent
    'code_debug'
    >>> router.route("bir python function yaz").intent
    'code_python'
    >>> weather = [Example("will it rain", "weather"), Example("merhaba", "greet")]
    >>> other = IntentRouter(CharNgrams(dim=512), fallback="greet").fit(weather)
    >>> other.fallback, other.code_rules, other.route("KeyError: 'name'").intent in other.labels
    ('greet', False, True)
    """

    def __init__(
        self,
        embedder: Embedder,
        threshold: float = 0.7,
        fallback: str | None = None,
        code_rules: bool | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise InvalidParameterError(f"threshold must be in [0, 1], got {threshold}")
        self.embedder, self.threshold = embedder, threshold
        self.fallback, self.code_rules = fallback, code_rules
        self.labels: list[str] = []
        self.weight = np.zeros((0, 0), dtype=np.float32)
        self.bias = np.zeros(0, dtype=np.float32)
        self.temperature = 1.0
        self.info: dict[str, Any] = {}

    def fit(
        self, examples: Sequence[Example], settings: TrainingSettings | None = None
    ) -> IntentRouter:
        """Train on labelled examples: calibrate on a held-out part, then refit on all."""
        settings = settings or TrainingSettings()
        labels = sorted({e.label for e in examples})
        if len(labels) < 2:
            raise DataFormatError(f"a router needs at least two labels, got {labels}")
        self.fallback, self.code_rules = _own_labels(labels, self.fallback, self.code_rules)
        started = time.perf_counter()
        x = self.embedder.embed([e.text for e in examples])
        y = np.array([labels.index(e.label) for e in examples])
        groups = [e.group or f"{i}" for i, e in enumerate(examples)]
        train, held = _stratified_split(y, groups, settings.holdout, settings.seed)
        self.labels = labels
        self.weight, self.bias = _fit_softmax(x[train], y[train], len(labels), settings)
        held_logits = self._logits(x[held])
        self.temperature = _best_temperature(held_logits, y[held])
        held_accuracy = float(np.mean(held_logits.argmax(axis=1) == y[held]))
        self.weight, self.bias = _fit_softmax(x, y, len(labels), settings)
        self.info = {
            "examples": len(examples),
            "per_label": dict(Counter(e.label for e in examples)),
            "held_out_accuracy": round(held_accuracy, 4),
            "seconds": round(time.perf_counter() - started, 2),
            "settings": asdict(settings),
        }
        return self

    def route(self, text: str) -> Route:
        """The intent of one message (see the module docstring)."""
        started = time.perf_counter()
        return replace(self._route(text), latency_ms=(time.perf_counter() - started) * 1e3)

    def _route(self, text: str) -> Route:
        if self.code_rules and has_python_error(text):
            return Route("code_debug", 1.0, "rule")
        scores = dict(zip(self.labels, self.probabilities([text])[0].tolist(), strict=True))
        code = self.code_rules and all(c in scores for c in _CODE_INTENTS)
        if code and _CODE.search(text):
            total = sum(scores[c] for c in _CODE_INTENTS)
            best = max(_CODE_INTENTS, key=scores.__getitem__)
            return Route(best, scores[best] / total if total else 0.5, "model", scores=scores)
        best = max(scores, key=scores.__getitem__)
        if scores[best] >= self.threshold or (
            code
            and best in _CODE_INTENTS
            and sum(scores[c] for c in _CODE_INTENTS) >= self.threshold
        ):
            return Route(best, scores[best], "model", scores=scores)
        fallback = self.fallback or FALLBACK_INTENT
        return Route(fallback, scores[best], "fallback", candidate=best, scores=scores)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in :attr:`labels` order."""
        if not self.labels:
            raise InvalidParameterError("this router is not trained: call fit() or load()")
        return _softmax(self._logits(self.embedder.embed(texts)) / self.temperature)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ self.weight + self.bias)

    def save(self, folder: str | Path) -> Path:
        """Write ``router.json`` and ``weights.npz`` into ``folder`` (created)."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        np.savez(target / "weights.npz", weight=self.weight, bias=self.bias)
        meta = {
            "format": FORMAT_VERSION,
            "labels": self.labels,
            "embedder": self.embedder.name,
            "threshold": self.threshold,
            "fallback": self.fallback,
            "code_rules": self.code_rules,
            "temperature": self.temperature,
            "info": self.info,
        }
        (target / "router.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        return target

    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder | None = None) -> IntentRouter:
        """A router saved by :meth:`save`, with ``embedder`` (the one it was trained with) or
        by default the embedder its ``router.json`` names. A ``router.json`` written before
        routers had a fallback and code rules falls back to ``general_chat`` and applies them.

        Raises
        ------
        SchemaMismatchError
            No readable router in ``folder``, another format, or another embedder.
        """
        source = Path(folder)
        try:
            meta = json.loads((source / "router.json").read_text(encoding="utf-8"))
            with np.load(source / "weights.npz", allow_pickle=False) as arrays:
                weight, bias = arrays["weight"], arrays["bias"]
        except (OSError, ValueError, KeyError) as e:
            raise SchemaMismatchError(
                f"no readable router in {str(source)!r} ({e}); write one with: "
                "azuraforge assist train-router DATA --out FOLDER"
            ) from None
        if meta.get("format") != FORMAT_VERSION:
            raise SchemaMismatchError(
                f"router in {str(source)!r} has format {meta.get('format')!r}, "
                f"this AzuraForge reads {FORMAT_VERSION}; train it again"
            )
        if embedder is None:
            embedder = embedder_named(meta["embedder"])
        elif meta["embedder"] != embedder.name:
            raise SchemaMismatchError(
                f"router in {str(source)!r} was trained on {meta['embedder']!r} embeddings, "
                f"not {embedder.name!r}; load it with the embedder it was trained with"
            )
        router = cls(
            embedder,
            float(meta["threshold"]),
            meta.get("fallback", FALLBACK_INTENT),
            meta.get("code_rules", True),
        )
        router.labels, router.temperature = list(meta["labels"]), float(meta["temperature"])
        router.weight, router.bias, router.info = weight, bias, dict(meta.get("info", {}))
        return router


def _own_labels(
    labels: list[str], fallback: str | None, code_rules: bool | None
) -> tuple[str, bool]:
    """The fallback label and whether the code rules apply, checked against ``labels``.

    Raises
    ------
    InvalidParameterError
        A fallback that is not a label (or none, and no ``general_chat``), or code rules asked
        for without a ``code_debug`` label.
    """
    known = ", ".join(labels)
    if fallback is None and FALLBACK_INTENT not in labels:
        raise InvalidParameterError(
            f"the labels ({known}) have no {FALLBACK_INTENT}: name the label of a message "
            "the router is unsure of with fallback=LABEL (the CLI's --fallback LABEL)"
        )
    if fallback is not None and fallback not in labels:
        raise InvalidParameterError(f"fallback {fallback!r} is not a label; labels: {known}")
    if code_rules and "code_debug" not in labels:
        raise InvalidParameterError(
            f"the code rules send errors to code_debug, which is not a label ({known}); "
            "drop code_rules=True (the CLI's --code-rules) or add code_debug examples"
        )
    return (
        fallback or FALLBACK_INTENT,
        "code_debug" in labels if code_rules is None else code_rules,
    )


def _stratified_split(
    y: np.ndarray, groups: Sequence[str], holdout: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out rows: about ``holdout`` of each label's groups held out whole.

    The sentences of one template differ by a word or two; holding out some of them while
    training on their siblings measured a near-perfect held-out accuracy (99.8 %), so the
    temperature fitted on it made the router sure of messages unlike its data (1.00 for "Who
    wrote Hamlet?"). Whole templates held out are new phrasings, as a user's messages are.
    A label with one group (a labelled file's rows are a group each) is split by rows."""
    rng = np.random.default_rng(seed)
    names = np.asarray(groups)
    held_groups: list[str] = []
    for c in np.unique(y):
        mine = sorted(set(names[y == c].tolist()))
        count = max(1, round(holdout * len(mine)))
        held_groups += rng.permutation(mine)[: min(count, len(mine) - 1) or 1].tolist()
    held = np.flatnonzero(np.isin(names, held_groups))
    train = np.setdiff1d(np.arange(len(y)), held)
    return train, held


def _fit_softmax(
    x: np.ndarray, y: np.ndarray, classes: int, settings: TrainingSettings
) -> tuple[np.ndarray, np.ndarray]:
    """A softmax layer on fixed features, mini-batch AdamW at a constant rate."""
    with use_generator(Generator(settings.seed)):
        layer = nn.Linear(x.shape[1], classes)
    optimizer = optim.AdamW(layer.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    counts = np.bincount(y, minlength=classes).astype(np.float32)
    weights = (
        len(y) / (classes * np.maximum(counts, 1.0))
        if settings.balanced
        else np.ones(classes, dtype=np.float32)
    )
    rng = np.random.default_rng(settings.seed)
    for _ in range(settings.epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), settings.batch_size):
            rows = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            losses = loss_fn(layer(Tensor(x[rows])), y[rows])
            (losses * Tensor(weights[y[rows]].astype(np.float32))).mean().backward()
            optimizer.step()
    bias = layer.bias.data if layer.bias is not None else np.zeros(classes)
    return layer.weight.data.T.astype(np.float32), bias.astype(np.float32)


def _best_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the held-out negative log-likelihood (a grid search:
    the curve is smooth and one-dimensional)."""
    grid = np.geomspace(0.05, 20.0, 240)
    nll = [-np.mean(np.log(_softmax(logits / t)[np.arange(len(y)), y] + 1e-12)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


SHIPPED_DATA = Path(__file__).parent / "data" / "intents.yaml"
SHIPPED_ROUTER = Path(__file__).parent / "data" / "router"
PER_TEMPLATE = 30
"""Sentences kept from each template of the shipped data (a few hundred per intent)."""


def train_router(
    data: str | Path,
    embedder: Embedder,
    threshold: float = 0.7,
    labels: Sequence[str] | None = None,
    fallback: str | None = None,
    code_rules: bool | None = None,
) -> IntentRouter:
    """A router trained on a labelled or template file (at most :data:`PER_TEMPLATE`
    sentences a template); ``info["data_sha256"]`` records which version of the file.
    ``fallback`` and ``code_rules`` are :class:`IntentRouter`'s."""
    examples = load_examples(data, labels=labels, per_template=PER_TEMPLATE)
    router = IntentRouter(embedder, threshold, fallback, code_rules).fit(examples)
    router.info["data_sha256"] = hashlib.sha256(Path(data).read_bytes()).hexdigest()
    return router


SHIPPED_THRESHOLD = 0.5
"""The shipped router's threshold: its probabilities are calibrated on held-out templates, so
below one half its top intent is more likely wrong than right (docs/assist.md)."""


def train_shipped_router(embedder: Embedder, threshold: float = SHIPPED_THRESHOLD) -> IntentRouter:
    """A router trained on the shipped Turkish and English data (``data/intents.yaml``)."""
    return train_router(SHIPPED_DATA, embedder, threshold, labels=list(INTENTS))


def default_router(
    threshold: float | None = None, embedder: Embedder | None = None
) -> IntentRouter:
    """The shipped router on E5 embeddings; without the E5 package, a character n-gram
    router trained on the shipped data at once (about 2 s; a warning says so).
    ``threshold`` is the shipped one (:data:`SHIPPED_THRESHOLD`) unless given;
    ``embedder`` is :func:`~azuraforge.assist.embeddings.default_embedder` by default."""
    embedder = embedder or default_embedder()
    if embedder.name == E5.name:
        router = IntentRouter.load(SHIPPED_ROUTER, embedder)
        router.threshold = SHIPPED_THRESHOLD if threshold is None else threshold
        return router
    return train_shipped_router(embedder, SHIPPED_THRESHOLD if threshold is None else threshold)
