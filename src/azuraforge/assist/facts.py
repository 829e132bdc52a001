"""Questions about the project's own data: what one asks, and the hook that answers it.

A message the router sends to ``project_data`` ("which run had the best MAE?", "weather veri
setimde kaç satır var?") is not given to a language model, which would invent its figures: it
is read here (:func:`read_question`: which of the project's things it is about, what it asks,
which metric, which id) and answered through a :class:`ProjectFacts` the caller supplies. The
assistant never imports the platform: the platform fills the hook with an answerer that reads
its rows (``azuraforge.platform.services.project_facts``), and every figure of the answer comes
from those rows. Without a hook, the answer says the assistant cannot see the project.

>>> q = read_question("Which run had the best MAE?")
>>> q.subject, q.ask, q.metric, q.language
('runs', 'best', 'mae', 'en')
>>> q = read_question("weather veri setimde kaç satır var?")
>>> q.subject, q.ask, q.language
('data', 'rows', 'tr')
>>> read_question("12 numaralı koşunun durumu ne?").number
12
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from azuraforge.assist.embeddings import turkish_lower
from azuraforge.assist.routing import Route

PROJECT_DATA = "project_data"
"""The intent of a question about the project's own runs, models, data files and streams."""

SUBJECTS = ("runs", "models", "data", "streams")
"""What a question may be about, as :attr:`Question.subject` names it."""


@dataclass(frozen=True)
class Question:
    """What a question about the project asks, as :func:`read_question` read it.

    ``subject`` is one of :data:`SUBJECTS` (None: it names none of them); ``ask`` is what it
    wants of it: ``best``, ``worst``, ``lowest``, ``highest``, ``count``, ``status``,
    ``metric``, ``list``, ``rows``, ``columns``, ``versions``, ``champion`` or ``score``
    (None: nothing the platform keeps). ``state`` is a run status it filters by, ``metric``
    the metric it names (lower case), ``number`` the id it names, ``language`` ``en`` or
    ``tr``, the language the answer is given in.
    """

    text: str
    language: str
    subject: str | None
    ask: str | None
    metric: str | None = None
    number: int | None = None
    state: str | None = None
    name: str | None = None
    """The word it gives as a data file's or model's name ("my *sales* dataset")."""


@dataclass(frozen=True)
class Facts:
    """An answer composed from the project's rows (``seen``), or one saying plainly that the
    project does not show it (``seen`` false): its text never holds a figure of a model."""

    text: str
    seen: bool = True


class ProjectFacts(Protocol):
    """What answers questions about a project from its own records.

    Contract: :meth:`answer` reads (never writes) only what the asker may read, and every
    figure of its text comes from those records; what they cannot tell is answered with a
    :class:`Facts` whose ``seen`` is false and whose text says so (:func:`cannot_see`).
    """

    def answer(self, question: Question) -> Facts:
        """The answer to ``question``."""
        ...


SECOND_LOOK = 0.3
"""The router's probability of ``project_data`` at which a message that names something the
project keeps is read as a question about it, whatever intent won (see :func:`asks_project`)."""


def asks_project(route: Route, text: str) -> bool:
    """Whether the message ``text``, routed as ``route``, asks about the project: it names
    something the project keeps (runs, models, data files, streams, a metric) and the router
    chose ``project_data``, fell back unsure with it as its best guess, or gave it at least
    :data:`SECOND_LOOK`. A figure is never left to a model because a threshold or a
    calibration moved; a router's slip without a project word ("which laptop would you
    recommend?") goes on to the model.

    >>> asks_project(Route("project_data", 0.9, "model"), "how many runs failed?")
    True
    >>> asks_project(Route("project_data", 0.8, "model"), "which laptop should I buy?")
    False
    >>> asks_project(Route("general_chat", 0.4, "fallback", candidate="project_data"),
    ...              "kaç koşu başarısız oldu?")
    True
    >>> asks_project(Route("general_chat", 0.6, "model", scores={"project_data": 0.35}),
    ...              "is my price stream still running?")
    True
    """
    chosen = PROJECT_DATA in (route.intent, route.candidate)
    likely = route.scores.get(PROJECT_DATA, 0.0) >= SECOND_LOOK
    return (chosen or likely) and read_question(text).subject is not None


def say(language: str, english: str, turkish: str) -> str:
    """``turkish`` for a Turkish question, else ``english``."""
    return turkish if language == "tr" else english


def cannot_see(question: Question, english: str = "", turkish: str = "") -> Facts:
    """The plain answer to what the project does not show, with why when given."""
    why_en = f": {english}" if english else ""
    why_tr = f": {turkish}" if turkish else ""
    return Facts(
        say(
            question.language,
            f"I cannot see that in this project{why_en}.",
            f"Bunu bu projede göremiyorum{why_tr}.",
        ),
        seen=False,
    )


UNSEEN = (
    "I read the project's runs (status, metrics), registered models (versions, aliases), "
    "data files (rows, columns) and streams (status, scores), and nothing else",
    "projenin koşularını (durum, metrikler), kayıtlı modellerini (sürümler, takma adlar), "
    "veri dosyalarını (satır, sütun) ve akışlarını (durum, skorlar) okurum, başka bir şeyi değil",
)
"""Why a question that names nothing the platform keeps is not answered (en, tr)."""


def no_project(question: Question) -> Facts:
    """The answer where no project is at hand (the assistant run outside the platform)."""
    return cannot_see(
        question,
        "I am not connected to a project here; ask on the platform's Chat page",
        "burada bir projeye bağlı değilim; platformun Sohbet sayfasında sorun",
    )


def read_question(text: str) -> Question:
    """What ``text`` asks of the project (see :class:`Question`)."""
    lowered = turkish_lower(text)
    words = re.findall(r"[\wçğıöşü²]+", lowered)
    subject = _subject(lowered, words)
    return Question(
        text=text,
        language=_language(text, words),
        subject=subject,
        ask=_ask(lowered, words, subject),
        metric=_metric(lowered),
        number=_number(lowered),
        state=_state(lowered),
        name=_name(lowered),
    )


_TURKISH = set("çğıöşü\u0307")  # U+0307: the dot "İ".lower() leaves
_TURKISH_WORDS = {
    "kaç",
    "hangi",
    "nedir",
    "ne",
    "var",
    "mı",
    "mi",
    "en",
    "koşu",
    "deney",
    "veri",
    "listele",
    "göster",
    "hangisi",
    "durumu",
    "projemde",
    "numaralı",
    "modelinin",
    "sürüm",
}


def _language(text: str, words: list[str]) -> str:
    """``tr`` for a Turkish letter or word (read on the text as written: a Turkish lower case
    turns English's "I" into "ı")."""
    return "tr" if _TURKISH & set(text.lower()) or _TURKISH_WORDS & set(words) else "en"


# Word stems, matched at the start of a word: Turkish adds its suffixes ("koşunun", "sürümü").
_STEMS = {
    "streams": ("stream", "akış", "akis", "online"),
    "data": ("dataset", "data", "csv", "file", "rows", "row", "column", "veri", "dosya",
             "satır", "sütun", "kolon", "records", "lines", "tablo", "table"),
    "models": ("model", "version", "champion", "challenger", "production", "sürüm", "versiyon",
               "şampiyon", "üretim", "alias", "registered", "kayıtlı"),
    "runs": ("run", "experiment", "training", "job", "koşu", "deney", "eğitim", "çalıştırma",
             "iş"),
}  # fmt: skip


def _has(words: list[str], stems: tuple[str, ...]) -> bool:
    return any(w == s or (len(s) > 2 and w.startswith(s)) for w in words for s in stems)


def _subject(lowered: str, words: list[str]) -> str | None:
    found = [subject for subject, stems in _STEMS.items() if _has(words, stems)]
    if "runs" in found and "models" in found and _has(words, ("best", "iyi", "lowest")):
        return "runs"  # "which run's model is best": runs hold the metrics
    if found:
        return found[0]
    return "runs" if _metric(lowered) else None


_ASKS = (
    ("rows", ("rows", "row", "lines", "records", "satır")),
    ("columns", ("columns", "column", "sütun", "kolon")),
    ("champion", ("champion", "challenger", "production", "şampiyon", "üretim", "alias")),
    ("versions", ("versions", "version", "sürüm", "versiyon")),
    ("worst", ("worst", "kötü")),
    ("lowest", ("lowest", "smallest", "düşük", "minimum")),
    ("highest", ("highest", "largest", "yüksek", "maximum")),
    ("best", ("best", "top", "iyi")),
    ("count", ("many", "number", "kaç", "count", "say")),
    ("status", ("status", "state", "durum")),
    ("score", ("score", "skor", "accuracy", "doğruluk")),
    ("list", ("list", "show", "which", "what", "listele", "göster", "hangi", "neler")),
)


# What a question asks beyond its first cue word: each rule reads the question's lowered text,
# the asks its words cue (in _ASKS' order) and its subject, and gives an ask or None (not its
# case). The first rule that gives one decides; none does: the first cue word's ask.


def _stream_score(lowered: str, asks: list[str], subject: str | None) -> str | None:
    """A stream's status or score is its score."""
    return "score" if subject == "streams" and ("score" in asks or "status" in asks) else None


def _numbered_run(lowered: str, asks: list[str], subject: str | None) -> str | None:
    """A run named by its id: its metric if one is named, else its status."""
    if _number(lowered) is None or subject not in ("runs", None):
        return None
    return "metric" if _metric(lowered) else "status"


def _how_many(lowered: str, asks: list[str], subject: str | None) -> str | None:
    """How many: rows or columns when the question cues those first, else a count."""
    if "count" not in asks:
        return None
    return asks[0] if asks[0] in ("rows", "columns") else "count"


def _runs_by_score(lowered: str, asks: list[str], subject: str | None) -> str | None:
    """Runs' scores in a metric: the best run when it says best, else the list."""
    if not asks or asks[0] != "score" or subject != "runs" or not _metric(lowered):
        return None
    return "best" if "best" in asks else "list"


def _runs_in_state(lowered: str, asks: list[str], subject: str | None) -> str | None:
    """Runs of a status ("which runs failed?"): the list."""
    return "list" if subject == "runs" and _state(lowered) else None


_ASK_RULES = (_stream_score, _numbered_run, _how_many, _runs_by_score, _runs_in_state)


def _ask(lowered: str, words: list[str], subject: str | None) -> str | None:
    asks = [ask for ask, stems in _ASKS if _has(words, stems)]
    for rule in _ASK_RULES:
        found = rule(lowered, asks, subject)
        if found is not None:
            return found
    return asks[0] if asks else None


_METRICS = {
    "mae": "mae", "rmse": "rmse", "mse": "mse", "mape": "mape", "mase": "mase", "smape": "smape",
    "r2": "r2", "r²": "r2", "accuracy": "accuracy", "doğruluk": "accuracy", "f1": "f1",
    "val_loss": "val_loss", "loss": "loss", "kayıp": "loss", "precision": "precision",
    "recall": "recall",
}  # fmt: skip


def _metric(lowered: str) -> str | None:
    for word in re.findall(r"[\wçğıöşü²]+", lowered):
        for name, metric in _METRICS.items():
            if word == name or (len(name) > 3 and word.startswith(name)):
                return metric
    return None


def _number(lowered: str) -> int | None:
    """The one id a question names ("run 12", "#12", "12 numaralı"), not a digit of a name
    (R2, pm2.5)."""
    found = re.findall(r"(?<![\w.²])#?(-?\d+)(?![\w.]\w)", lowered)
    return int(found[0]) if len(found) == 1 else None


_STATES = (
    ("failed", ("failed", "fail", "başarısız", "hata ver", "hata aldı", "patladı")),
    ("running", ("running", "still run", "çalışıyor", "çalışan", "sürüyor")),
    ("cancelled", ("cancelled", "canceled", "iptal")),
    ("completed", ("completed", "succeeded", "finished", "tamamlan", "bitti", "bitmiş")),
    ("queued", ("queued", "waiting", "sırada", "bekleyen")),
    ("lost", ("lost", "kayboldu", "kayıp koşu")),
)


def _state(lowered: str) -> str | None:
    return next((state for state, cues in _STATES if any(c in lowered for c in cues)), None)


_NAMED = re.compile(
    r"([\w][\w\-.]*)\s+(?:dataset|data set|data file|csv|file|model|veri set|dosya|csv|model)"
)
_NOT_NAMES = {
    "my", "the", "our", "your", "this", "that", "uploaded", "data", "a", "an", "which", "what",
    "registered", "each", "every", "all", "any", "new", "latest", "benim", "bu", "şu",
    "yüklediğim", "kayıtlı", "hangi", "her", "veri", "son", "ilk", "csv", "bir", "tüm",
}  # fmt: skip


def _name(lowered: str) -> str | None:
    """The word before "dataset", "file", "model", "veri seti"… unless a determiner."""
    found = [m.group(1) for m in _NAMED.finditer(lowered) if m.group(1) not in _NOT_NAMES]
    return found[0] if found else None
