"""The assistant's answers about a project's own data, read from its rows.

:class:`ProjectFactsReader` is the platform's :class:`~azuraforge.assist.facts.ProjectFacts`:
given a question read by :func:`~azuraforge.assist.facts.read_question`, it reads the asker's
project through the store the API gave the request (a project's view: another project's rows
are not in it) and its data folder, and composes the answer's sentences itself, every figure
from a row: a run's status and metrics, a registered model's versions and aliases, a data
file's rows and columns, a stream's status and scores. It only reads. What the rows cannot
tell is answered "I cannot see that in this project", with why.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from azuraforge.assist.facts import UNSEEN, Facts, Question, cannot_see, say
from azuraforge.errors import AzuraForgeError
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.kinds import listed_kinds
from azuraforge.platform.services.data_files import DataFiles
from azuraforge.platform.services.streams.job import STREAM
from azuraforge.platform.store import DataFileRecord, ExperimentRecord, ModelRecord, interfaces
from azuraforge.platform.store.experiment_query import MAX_PAGE, ExperimentQuery

MAX_ID = 2**31 - 1
"""The largest id a job has (32-bit on PostgreSQL): a larger one names no run."""
SHOWN = 10
"""Most runs, files or models one answer names."""
LOWER_IS_BETTER = frozenset({"mae", "rmse", "mse", "mape", "mase", "smape", "loss", "val_loss"})
"""Metrics whose best value is the lowest (the others': the highest)."""
STATES_TR = {
    "queued": "sırada", "running": "çalışıyor", "completed": "tamamlandı",
    "failed": "başarısız", "cancelled": "iptal edildi", "lost": "kayıp", "pruned": "budandı",
}  # fmt: skip


def figure(value: float) -> str:
    """A row's number as an answer shows it: an integer whole, else four significant digits
    without trailing zeros (no exponent, no thousands separator: a reader and a check read the
    same digits).

    >>> figure(15341.0), figure(0.412371), figure(-3.14159), figure(1234.5678), figure(0.01880)
    ('15341', '0.4124', '-3.142', '1235', '0.0188')
    """
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    places = max(0, 3 - math.floor(math.log10(abs(value))))
    shown = f"{value:.{places}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


class FactSources(interfaces.Runs, interfaces.Registry, interfaces.DataFiles, Protocol):
    """What :class:`ProjectFactsReader` reads: the project's runs, models and data files."""


class ProjectFactsReader:
    """Answers questions about ``project`` from ``store`` (the asker's view of it) and its
    data ``folder``; see the module docstring."""

    def __init__(self, store: FactSources, project: str, folder: DataFolder) -> None:
        self.store, self.project, self.folder = store, project, folder

    def answer(self, question: Question) -> Facts:
        """The answer to ``question``, composed from the project's rows."""
        answers: dict[str | None, Callable[[Question], Facts]] = {
            "runs": self._runs, "models": self._models, "data": self._data,
            "streams": self._streams,
        }  # fmt: skip
        handler = answers.get(question.subject)
        if handler is None:
            return cannot_see(question, *UNSEEN)
        try:
            return handler(question)
        except AzuraForgeError as e:  # a row that does not read: said, never guessed around
            return cannot_see(question, str(e), str(e))

    # Runs ---------------------------------------------------------------------------------

    def _jobs(
        self, kinds: Sequence[str], state: str | None = None
    ) -> tuple[list[ExperimentRecord], int]:
        query = ExperimentQuery(project=self.project, kinds=tuple(kinds), limit=MAX_PAGE,
                                statuses=(state,) if state else ())  # fmt: skip
        page = self.store.list_experiments(query)
        return page.items, page.total

    def _runs(self, q: Question) -> Facts:
        if q.number is not None:
            return self._one_run(q, q.number)
        runs, total = self._jobs(listed_kinds())
        named = _named_run(q.text, runs)
        if named is not None:
            return self._one_run(q, named.id)
        if q.ask in ("best", "worst", "lowest", "highest"):
            return self._best(q, runs)
        if q.ask == "count":
            return self._count_runs(q, runs, total)
        if q.ask in ("list", "status", "score") or q.state:
            return self._list_runs(q, runs)
        return cannot_see(q, *UNSEEN)

    def _one_run(self, q: Question, number: int) -> Facts:
        if not 1 <= number <= MAX_ID:
            return cannot_see(q, f"there is no run {number} in it", f"{number} numaralı koşu yok")
        run = self.store.find_experiment(number, project=self.project)
        if run is None or run.kind == STREAM:
            return cannot_see(q, f"there is no run {number} in it", f"{number} numaralı koşu yok")
        if q.metric is None:
            return Facts(_run_status(q, run))
        found = metric_of(run, q.metric)
        if found is None:
            logged = ", ".join(sorted({*run.metrics, *run.scores})) or "none"
            return cannot_see(q, f"run {run.id} logged no {q.metric.upper()} (it logged: "
                                 f"{logged})", f"{run.id} numaralı koşu {q.metric.upper()} "
                                 f"kaydetmedi (kaydettikleri: {logged})")  # fmt: skip
        key, value = found
        return Facts(say(q.language, f"Run {run.id} ({run.name}, {run.status}): {key} = "
                                     f"{figure(value)}.",
                         f"{run.id} numaralı koşu ({run.name}, {_state(q, run.status)}): "
                         f"{key} = {figure(value)}."))  # fmt: skip

    def _best(self, q: Question, runs: list[ExperimentRecord]) -> Facts:
        if q.metric is None:
            return cannot_see(q, "name the metric to compare runs by (MAE, RMSE, R2, accuracy…)",
                              "koşuları hangi metriğe göre karşılaştıracağımı söyleyin "
                              "(MAE, RMSE, R2, doğruluk…)")  # fmt: skip
        scored = [(run, found) for run in runs if (found := metric_of(run, q.metric))]
        if not scored:
            return cannot_see(q, f"no run of it logged {q.metric.upper()}",
                              f"hiçbir koşusu {q.metric.upper()} kaydetmedi")  # fmt: skip
        lowest = (q.metric in LOWER_IS_BETTER) == (q.ask in ("best", "lowest"))
        if q.ask in ("lowest", "highest"):
            lowest = q.ask == "lowest"
        run, (key, value) = (min if lowest else max)(scored, key=lambda s: s[1][1])
        word_en = "lowest" if lowest else "highest"
        word_tr = "en düşük" if lowest else "en yüksek"
        english = (
            f"Run {run.id} ({run.name}) has the {word_en} {key}: {figure(value)}, of "
            f"{counted(len(scored), 'run')} that logged it."
        )
        turkish = (
            f"{word_tr.capitalize()} {key} {run.id} numaralı koşuda ({run.name}): "
            f"{figure(value)}; bunu kaydeden {len(scored)} koşu arasında."
        )
        return Facts(say(q.language, english, turkish))

    def _count_runs(self, q: Question, runs: list[ExperimentRecord], total: int) -> Facts:
        if q.state:
            return _count_runs_in(q, q.state, runs)
        states = Counter(r.status for r in runs)
        parts = ", ".join(f"{n} {_state(q, s)}" for s, n in sorted(states.items()))
        return Facts(
            say(
                q.language,
                f"This project has {counted(total, 'run')}" + (f": {parts}." if parts else "."),
                f"Bu projede {total} koşu var" + (f": {parts}." if parts else "."),
            )
        )

    def _list_runs(self, q: Question, runs: list[ExperimentRecord]) -> Facts:
        chosen = [r for r in runs if q.state is None or r.status == q.state]
        if not chosen:
            none = (
                f"No run of this project is {q.state}." if q.state else "This project has no run."
            )
            return Facts(say(q.language, none,
                             "Bu projede böyle bir koşu yok."))  # fmt: skip
        lines = [_run_status(q, r) for r in chosen[:SHOWN]]
        more = len(chosen) - SHOWN
        if more > 0:
            lines.append(say(q.language, f"… and {more} more.", f"… ve {more} tane daha."))
        return Facts(" ".join(lines))

    # Registered models --------------------------------------------------------------------

    def _models(self, q: Question) -> Facts:
        models, total = self.store.list_models(project=self.project, limit=MAX_PAGE)
        if not models:
            return Facts(say(q.language, "This project has no registered model.",
                             "Bu projede kayıtlı model yok."))  # fmt: skip
        lowered = q.text.lower()
        named = [m for m in models if m.name.lower() in lowered]
        if q.name and not named:
            return _no_model_named(q, q.name, models)
        chosen = named or (models if len(models) == 1 or q.ask == "champion" else [])
        return self._about_models(q, chosen, models, total)

    def _about_models(
        self, q: Question, chosen: list[ModelRecord], models: list[ModelRecord], total: int
    ) -> Facts:
        """What ``q`` asks of the ``chosen`` models (those it names, or the only one) or, with
        none chosen, of all the project's ``models`` (``total`` in all)."""
        if q.ask == "champion" and chosen:
            return Facts(" ".join(self._champion(q, m) for m in chosen[:SHOWN]))
        if q.ask in ("versions", "count") and len(chosen) == 1:
            return Facts(self._versions(q, chosen[0]))
        if q.ask == "count":
            return _count_models(q, models, total)
        return Facts(" ".join(self._versions(q, m) for m in (chosen or models)[:SHOWN]))

    def _versions(self, q: Question, model: ModelRecord) -> str:
        versions, total = self.store.list_versions(model.name, project=self.project,
                                                   limit=MAX_PAGE)  # fmt: skip
        numbers = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: v.version))
        aliases = _aliases(model)
        return say(q.language,
                   f"Model {model.name} has {counted(total, 'version')} ({numbers}); "
                   f"latest {model.latest_version}; aliases: {aliases or 'none'}.",
                   f"{model.name} modelinin {total} sürümü var ({numbers}); en yenisi "
                   f"{model.latest_version}; takma adlar: {aliases or 'yok'}.")  # fmt: skip

    def _champion(self, q: Question, model: ModelRecord) -> str:
        lowered = q.text.lower()
        alias = next((a for a in model.aliases if a.lower() in lowered), None)
        alias = alias or next((a for a in ("champion", "production") if a in model.aliases), None)
        if alias is None:
            return say(q.language,
                       f"Model {model.name} has no champion alias (aliases: "
                       f"{_aliases(model) or 'none'}).",
                       f"{model.name} modelinin champion takma adı yok (takma adlar: "
                       f"{_aliases(model) or 'yok'}).")  # fmt: skip
        version = self.store.get_version(model.name, model.aliases[alias], project=self.project)
        source = (f"run {version.source_experiment_id}" if version.source_experiment_id
                  else "no run")  # fmt: skip
        return say(q.language,
                   f"The {alias} of model {model.name} is version {version.version} "
                   f"(from {source}).",
                   f"{model.name} modelinin {alias} sürümü {version.version} "
                   f"({source.replace('run', 'koşu')}).")  # fmt: skip

    # Data files ---------------------------------------------------------------------------

    def _data(self, q: Question) -> Facts:
        files = DataFiles(self.folder, self.store).list()
        if not files:
            return Facts(say(q.language, "This project has no data file.",
                             "Bu projede veri dosyası yok."))  # fmt: skip
        named = _named_files(q.text, files)
        listed = ", ".join(f.name for f in files[:SHOWN])
        if q.name and not named:
            return cannot_see(
                q,
                f"it has no data file named {q.name!r} (its files: {listed})",
                f"{q.name!r} adlı bir veri dosyası yok (dosyaları: {listed})",
            )
        if q.ask in ("rows", "columns") and len(named) != 1 and len(files) > 1:
            return cannot_see(
                q,
                f"name one of its data files: {listed}",
                f"veri dosyalarından birini adıyla söyleyin: {listed}",
            )
        return _about_files(q, named, files)

    # Streams ------------------------------------------------------------------------------

    def _streams(self, q: Question) -> Facts:
        streams, total = self._jobs((STREAM,), q.state)
        streams = _chosen_streams(q, streams)
        if not streams and not total:
            return Facts(say(q.language, "This project has no stream.", "Bu projede akış yok."))
        if not streams:
            return cannot_see(q, "it has no such stream", "böyle bir akış yok")
        if q.ask == "count":
            return _count_streams(q, streams, total)
        return Facts(" ".join(_stream_facts(q, s) for s in streams[:SHOWN]))


def counted(n: int, thing: str) -> str:
    """``n`` and ``thing``, plural unless one (English).

    >>> counted(1, "run"), counted(6, "data file")
    ('1 run', '6 data files')
    """
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def metric_of(run: ExperimentRecord, metric: str) -> tuple[str, float] | None:
    """The value of ``metric`` in ``run`` and its key: the model's test score from its result
    (``metrics.MAE.model``) first, then a logged metric of that name (``mae``, ``val/mae``)."""
    wanted = metric.lower()
    for key, value in run.scores.items():
        parts = key.lower().split(".")
        if len(parts) >= 2 and parts[1] == wanted and parts[-1] in (wanted, "model"):
            return key, value
    for key, value in sorted(run.metrics.items()):
        if re.split(r"[/._]", key.lower())[-1] == wanted or key.lower() == wanted:
            return key, value
    return None


def _no_model_named(q: Question, name: str, models: Sequence[ModelRecord]) -> Facts:
    listed = ", ".join(m.name for m in models[:SHOWN])
    return cannot_see(
        q,
        f"it has no model named {name!r} (its models: {listed})",
        f"{name!r} adlı bir model yok (modelleri: {listed})",
    )


def _count_runs_in(q: Question, state: str, runs: list[ExperimentRecord]) -> Facts:
    """How many of the project's ``runs`` are in ``state``, and which."""
    matching = [r for r in runs if r.status == state]
    ids = ", ".join(str(r.id) for r in matching[:SHOWN])
    named = "run" if len(matching) == 1 else "runs"
    verb = "is" if len(matching) == 1 else "are"
    english = f"{counted(len(matching), 'run')} of this project {verb} {state}" + (
        f" ({named} {ids})." if ids else "."
    )
    turkish = f"Bu projede {len(matching)} koşu {_state(q, state)}" + (
        f" ({ids} numaralı)." if ids else "."
    )
    return Facts(say(q.language, english, turkish))


def _count_models(q: Question, models: Sequence[ModelRecord], total: int) -> Facts:
    names = ", ".join(m.name for m in models[:SHOWN])
    english = f"This project has {counted(total, 'registered model')}: {names}."
    return Facts(say(q.language, english, f"Bu projede {total} kayıtlı model var: {names}."))


def _named_run(text: str, runs: Sequence[ExperimentRecord]) -> ExperimentRecord | None:
    lowered = text.lower()
    named = [r for r in runs if len(r.name) >= 3 and r.name.lower() in lowered]
    return max(named, key=lambda r: len(r.name)) if named else None


def _about_files(q: Question, named: list[DataFileRecord], files: list[DataFileRecord]) -> Facts:
    """What ``q`` asks of the ``named`` data files or, with none named, of all the project's
    ``files``."""
    if q.ask in ("rows", "columns"):
        return Facts(_file_facts(q, (named or files)[0], q.ask == "columns"))
    if q.ask == "count":
        names = ", ".join(f.name for f in files[:SHOWN])
        return Facts(
            say(
                q.language,
                f"This project has {counted(len(files), 'data file')}: {names}.",
                f"Bu projede {len(files)} veri dosyası var: {names}.",
            )
        )
    return Facts(" ".join(_file_facts(q, f, False) for f in (named or files)[:SHOWN]))


def _named_files(text: str, files: Sequence[DataFileRecord]) -> list[DataFileRecord]:
    """The files ``text`` names: by their name, or by a word of it at least four letters long
    ("my weather dataset" names ``weather.csv``)."""
    lowered = text.lower()
    words = set(re.findall(r"\w+", lowered))
    return [
        f
        for f in files
        if f.name.lower() in lowered
        or any(len(p) >= 4 and any(w.startswith(p) for w in words)
               for p in re.split(r"[/._\-\s]", f.name.lower().removesuffix(".csv")))
    ]  # fmt: skip


def _run_status(q: Question, run: ExperimentRecord) -> str:
    error = f" ({run.error.splitlines()[0][:200]})" if run.error else ""
    return say(
        q.language,
        f"Run {run.id} ({run.name}) is {run.status}{error}.",
        f"{run.id} numaralı koşu ({run.name}): {_state(q, run.status)}{error}.",
    )


def _state(q: Question, state: str) -> str:
    return STATES_TR.get(state, state) if q.language == "tr" else state


def _aliases(model: ModelRecord) -> str:
    return ", ".join(f"{alias} → {version}" for alias, version in sorted(model.aliases.items()))


def _file_facts(q: Question, file: DataFileRecord, columns: bool) -> str:
    if file.problem is not None:
        return say(
            q.language,
            f"{file.name} does not read as a CSV: {file.problem}.",
            f"{file.name} CSV olarak okunmuyor: {file.problem}.",
        )
    names = f": {', '.join(file.columns)}" if columns else ""
    return say(q.language,
               f"{file.name} has {file.rows} rows and {len(file.columns)} columns{names}.",
               f"{file.name} dosyasında {file.rows} satır ve {len(file.columns)} sütun var"
               f"{names}.")  # fmt: skip


def _chosen_streams(q: Question, streams: list[ExperimentRecord]) -> list[ExperimentRecord]:
    """The ``streams`` ``q`` names by number, else those it names by name, else all."""
    if q.number is not None:
        return [s for s in streams if s.id == q.number]
    return [s for s in streams if s.name.lower() in q.text.lower()] or streams


def _count_streams(q: Question, streams: list[ExperimentRecord], total: int) -> Facts:
    """How many streams the project has (``total``) and in which states (``streams``')."""
    states = Counter(s.status for s in streams)
    parts = ", ".join(f"{n} {_state(q, s)}" for s, n in sorted(states.items()))
    return Facts(
        say(
            q.language,
            f"This project has {counted(total, 'stream')}: {parts}.",
            f"Bu projede {total} akış var: {parts}.",
        )
    )


def _stream_facts(q: Question, stream: ExperimentRecord) -> str:
    kept = {k: v for k, v in stream.metrics.items() if k not in ("events", "scored")}
    scores = ", ".join(f"{k} {figure(v)}" for k, v in sorted(kept.items())) or "none yet"
    scored = stream.metrics.get("scored")
    after = f" after {figure(scored)} scored events" if scored else ""
    after_tr = f" ({figure(scored)} puanlanmış olaydan sonra)" if scored else ""
    return say(q.language,
               f"Stream {stream.id} ({stream.name}) is {stream.status}; its latest scores"
               f"{after}: {scores}.",
               f"{stream.id} numaralı akış ({stream.name}): {_state(q, stream.status)}; son "
               f"skorları{after_tr}: {scores.replace('none yet', 'henüz yok')}.")  # fmt: skip
