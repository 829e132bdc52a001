"""The nightly pass: once a day per project (settings ``assist_nightly``,
``assist_nightly_hour``), a job of kind ``assist-night`` over the turns since the last one.

It keeps the facts users stated about themselves (:func:`~azuraforge.assist.night.facts_in`)
in their own long-term memory, each with the conversation and turn it came from (listed and
forgotten by its user as any memory); reports the failure patterns per intent, expert and
backend (:func:`~azuraforge.assist.night.failure_patterns`), the examples waiting for review
and the approved ones waiting for training; and starts the fine-tune of each expert with
``assist_fine_tune_after`` approved examples or more not yet trained on, unless one of its
fine-tunes is queued or running. The report is the run's result: the dashboard's page of
nights shows each. The reaper's duty queues the nights (:meth:`NightKind.sweep`), so it
runs once per store whatever the number of servers.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from azuraforge.assist.night import Pattern, facts_in, failure_patterns
from azuraforge.errors import ConflictError
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobHost, JobKind
from azuraforge.platform.jobs.queueing import NewJob, enqueue, make_transport
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.chat_memory import ChatMemory, memory_url
from azuraforge.platform.services.fine_tunes import FINE_TUNE, FineTuneConfig, submit_fine_tune
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, ExperimentRecord, Store
from azuraforge.platform.store.chat import TurnRecord
from azuraforge.platform.store.examples import CANDIDATE
from azuraforge.platform.store.interfaces import ProjectView, Runs, RunsAndChat
from azuraforge.platform.store.states import COMPLETED, QUEUED, RUNNING

NIGHT = "assist-night"
"""The job kind, and the pipeline its runs show."""
DAY = 86_400.0
FACT = "fact"
"""The ``kind`` in a fact's memory's meta (a message's has none)."""


class NightConfig(BaseModel):
    """The turns a nightly pass reads: those kept in ``[since, until)``."""

    model_config = ConfigDict(extra="forbid")

    since: float = Field(ge=0)
    until: float = Field(ge=0)


class NightKind(JobKind):
    """The job kind ``assist-night``: :func:`run_night`; queued by the reaper's duty once a
    day per project (:func:`schedule_nights`)."""

    name = NIGHT
    listed = True
    cancel_grace = 0.0

    def run(
        self, store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_night(store, record, settings, ctx)

    def sweep(self, host: JobHost[Store]) -> None:
        scheduled: dict[str, str] = host.keep("nights", dict)
        schedule_nights(host.store, host.transport, host.settings, scheduled)


def schedule_nights(
    store: ProjectView, transport: Transport, settings: Settings, scheduled: dict[str, str],
    now: float | None = None,
) -> list[ExperimentRecord]:  # fmt: skip
    """Queue today's nightly pass of each project that has none yet, once the hour of
    ``assist_nightly_hour`` (UTC) has come (unless ``assist_nightly`` is off); ``scheduled``
    remembers the projects done today between calls (the store is asked once a day per
    project). The nights queued."""
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, UTC)
    if not settings.assist_nightly or today.hour < settings.assist_nightly_hour:
        return []
    day = today.date().isoformat()
    queued = []
    for project in store.list_projects():
        if scheduled.get(project) == day:
            continue
        try:
            night = queue_night(store, transport, project, now, day)
        except ConflictError:  # another process queued it meanwhile
            night = None
        if night is not None:
            queued.append(night)
        scheduled[project] = day
    return queued


def queue_night(
    store: RunsAndChat, transport: Transport | None, project: str, now: float, day: str,
    *, by: str | None = None,
) -> ExperimentRecord | None:  # fmt: skip
    """Queue ``project``'s night of ``day`` over the turns since its last completed pass (a
    day at most), unless it has one or no turn was kept since; ``None`` then. A pass asked
    ``by`` someone runs whatever passes ran today (named by its time), and the day's
    scheduled one still runs after it, over the turns since."""
    batch = f"{NIGHT}-{day}"
    done = ExperimentQuery(project=project, kinds=(NIGHT,), batch_id=batch, limit=1)
    if by is None and store.list_experiments(done).items:
        return None
    last = store.list_experiments(
        ExperimentQuery(project=project, kinds=(NIGHT,), statuses=(COMPLETED,), limit=1)
    ).items  # a night that failed read nothing: its turns are read again
    since = float(last[0].config["until"]) if last else now - DAY
    config = NightConfig(since=max(since, now - DAY), until=now)
    if by is None and not store.count_turns_between(config.since, now, project=project):
        return None  # a project nobody chatted in since: nothing to read
    if by is None:
        job = NewJob(NIGHT, config.model_dump(), kind=NIGHT, project=project,
                     name=f"night-{day}", batch_id=batch)  # fmt: skip
        return enqueue(store, transport, job)[0]
    clock = datetime.fromtimestamp(now, UTC).strftime("%H%M%S")
    for extra in ("", "-2", "-3"):  # passes asked within one second
        name = f"night-{day}-{clock}{extra}-by-hand"
        job = NewJob(NIGHT, config.model_dump(), kind=NIGHT, project=project, submitter=by,
                     name=name, batch_id=f"{batch}-by-hand")  # fmt: skip
        try:
            return enqueue(store, transport, job)[0]
        except ConflictError:
            continue
    raise ConflictError("three passes were asked within a second: try again")


def list_nights(
    store: Runs, project: str, *, limit: int, offset: int
) -> tuple[list[ExperimentRecord], int]:
    """A page of ``project``'s nightly passes, the newest first, and how many there are."""
    page = store.list_experiments(
        ExperimentQuery(project=project, kinds=(NIGHT,), limit=limit, offset=offset)
    )
    return list(page.items), page.total


def run_night(
    store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> tuple[str, dict[str, Any]]:
    """The nightly pass ``record`` (the module docstring says what it does); its report."""
    config = NightConfig.model_validate(record.config)
    project = record.project
    turns = store.turns_between(config.since, config.until, project=project)
    ctx.progress(0, 3, f"{len(turns)} turns")
    facts = keep_facts(settings, project, turns, record.id)
    ctx.progress(1, 3, f"{len(facts)} facts kept")
    patterns = failure_patterns(turn for _, turn in turns)
    candidates = store.list_examples(project=project, status=CANDIDATE, limit=1)[1]
    waiting = store.waiting_examples(project=project)
    started = _fine_tunes(store, settings, project, waiting, record)
    ctx.progress(3, 3, f"{len(started)} fine-tunes started")
    report = {
        "since": config.since, "until": config.until, "turns": len(turns),
        "users": len({user for user, _ in turns}), "facts": facts,
        "patterns": [_pattern(p) for p in patterns], "candidates": candidates,
        "waiting": waiting, "fine_tunes": started,
        "memory": settings.assist_memory,
    }  # fmt: skip
    failures = sum(p.failures for p in patterns)
    line = (f"{len(turns)} turns, {failures} failed, {len(facts)} facts kept, {candidates} "
            f"examples to review, {len(started)} fine-tunes started")  # fmt: skip
    metrics = {"turns": len(turns), "failures": failures, "facts": len(facts),
               "candidates": candidates, "fine_tunes": len(started)}  # fmt: skip
    return COMPLETED, {"report": report, "notes": [line], "metrics": metrics}


def keep_facts(
    settings: Settings, project: str, turns: list[tuple[str, TurnRecord]], night: int
) -> list[dict[str, Any]]:
    """Keep the facts of ``turns``' messages in their users' memories (a fact that is the
    whole message is kept already, as the message), with their conversation, turn and this
    ``night``; what was kept (none with the memory off)."""
    if not settings.assist_memory:
        return []
    from azuraforge.assist.embeddings import memory_embedder
    from azuraforge.assist.routing import default_router

    memory = ChatMemory(settings.assist_memory_url or memory_url(settings.database_url),
                        lambda: memory_embedder(default_router().embedder))  # fmt: skip
    kept = []
    try:
        for user, turn in turns:
            whole = " ".join(turn.message.split())
            for fact in facts_in(turn.message):
                if fact == whole:
                    continue
                meta = {"kind": FACT, "conversation": turn.conversation_id, "turn": turn.id,
                        "night": night}  # fmt: skip
                memory.of(project, user).remember(fact, meta)
                kept.append({"user": user, "fact": fact, "turn": turn.id,
                             "conversation": turn.conversation_id})  # fmt: skip
    finally:
        memory.close()
    return kept


def _fine_tunes(
    store: ProjectView, settings: Settings, project: str, waiting: dict[str, int],
    night: ExperimentRecord,
) -> list[dict[str, Any]]:  # fmt: skip
    """Start the fine-tune of each expert with enough approved examples waiting and none of
    its fine-tunes queued or running; each started (its run) or why not."""
    due = {e: n for e, n in waiting.items() if n >= settings.assist_fine_tune_after}
    if not due:
        return []
    busy = {
        str(run.config.get("expert"))
        for run in store.list_experiments(ExperimentQuery(
            project=project, kinds=(FINE_TUNE,), statuses=(QUEUED, RUNNING), limit=500,
        )).items
    }  # fmt: skip
    transport = make_transport(settings)
    started: list[dict[str, Any]] = []
    try:
        for expert in sorted(due):
            if expert in busy:
                started.append({"expert": expert, "run": None, "why": "one is under way"})
                continue
            try:
                run = submit_fine_tune(store, transport, settings, FineTuneConfig(expert=expert),
                                       project=project, submitter=None,
                                       context=dict(night.context or {}))  # fmt: skip
                started.append({"expert": expert, "run": run.id, "why": f"{due[expert]} "
                                "approved examples waiting"})  # fmt: skip
            except Exception as e:  # one expert's failure is reported, the others go on
                started.append({"expert": expert, "run": None, "why": str(e)})
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()
    return started


def _pattern(pattern: Pattern) -> dict[str, Any]:
    return {**asdict(pattern), "failures": pattern.failures,
            "failure_rate": round(pattern.failure_rate, 4)}  # fmt: skip
