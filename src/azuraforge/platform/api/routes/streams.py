"""``/streams``: start, list, read and stop streams (continuous learning as supervised jobs).

A stream is a job of the kind ``stream``; its curves, logs and events are those of any job
(``/experiments/{id}/metrics``, ``/logs``, ``/events``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.api.access import READ, WRITE, Reader, Writer
from azuraforge.platform.api.deps import (
    MAX_EXPERIMENT_ID,
    BlobsDep,
    DataFolderDep,
    SettingsDep,
    StoreDep,
    TransportDep,
    comma_separated,
    status_list,
)
from azuraforge.platform.api.list_csv import CsvAsked, csv_of, csv_responses, page_or_csv
from azuraforge.platform.api.schemas import RequestBody, RestartPublic, error_responses
from azuraforge.platform.services.streams.config import StreamConfig, stream_config
from azuraforge.platform.services.streams.explain import explain
from azuraforge.platform.services.streams.job import STREAM, find_stream, start_stream
from azuraforge.platform.services.streams.loop import ACTIONS, SOURCE_FOUND, TURBULENT
from azuraforge.platform.services.streams.readings import Pace, pace, trading_scores
from azuraforge.platform.services.streams.serving import MIN_CLOSES, StreamServer
from azuraforge.platform.store import AlertRecord, ExperimentQuery, ExperimentRecord, Store
from azuraforge.platform.store.states import ALL_STATES, FINISHED_STATES
from azuraforge.stream.direction import LEARNERS, has_log_loss
from azuraforge.stream.online import best_rule
from azuraforge.stream.shadow import CHAMPION, CHANGE_KINDS, standing

router = APIRouter(prefix="/streams", tags=["streams"])
ERRORS = error_responses()
StreamId = Annotated[int, Path(ge=1, le=MAX_EXPERIMENT_ID, description="A stream's id.")]
MAX_EVENT = 2**31 - 1
NO_PACE = Pace(None, None)
VERSION_HELP = "A version of the stream's registry model: a past champion, or one it replaced."


class StreamCreate(RequestBody):
    """A stream to start: its config (GET /streams/schema) and, optionally, its name."""

    config: dict[str, Any] = Field(..., description="The stream's settings (GET /streams/schema).")
    name: str | None = Field(
        None, min_length=1, max_length=200, description="Unique in the project."
    )


class StreamPublic(BaseModel):
    """A stream as lists show it: where it runs, how far it got, how it scores."""

    id: int
    name: str
    status: str = Field(description="queued, running, completed, failed, cancelled or lost.")
    source: str = Field(description="Its dataset, data-folder CSV or polled url.")
    learner: str
    worker: str | None = Field(description="The worker it runs on (or ran on last).")
    events: int = Field(description="Events taken, as of its last checkpoint.")
    scored: int = Field(description="Predictions scored, as of its last checkpoint.")
    restarts: int = Field(description="Times the kernel restarted it.")
    champion: str | None = Field(
        description="The champion's name once it ended (GET /streams/{id}/candidates while it "
        "runs)."
    )
    scores: dict[str, float] = Field(
        description="As of its last checkpoint: by role (champion, candidate, previous) and "
        "for each trivial rule, the accuracy and log-loss (none for a rule), cumulative and "
        "recent ('champion/accuracy'), the running tests' evidence ('candidate/evidence'), "
        "and what trading the champion's predictions returned beside buy and hold over the "
        "same steps, net of 0.1 % a change ('champion/return', "
        "'champion/buy_and_hold_return')."
    )
    best_rule: str | None = Field(
        None, description="The trivial rule of the best accuracy, the bar its learner is shown "
        "beside ('{best_rule}/accuracy' in scores)."
    )  # fmt: skip
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    turbulent: float | None = Field(
        None, description="The mean probability that its price's volatility was in its "
        "turbulent regime over the events before its last checkpoint (the metric "
        "'regime/turbulent')."
    )  # fmt: skip
    lag: float | None = Field(
        None, description="While it runs: seconds since its last checkpoint (or since its "
        "process started)."
    )  # fmt: skip
    events_per_second: float | None = Field(
        None, description="Over its last checkpoints in its present process."
    )

    @classmethod
    def of(cls, record: ExperimentRecord, keeping: Pace = NO_PACE) -> StreamPublic:
        metrics = dict(record.metrics)
        return cls(
            id=record.id, name=record.name, status=record.status,
            source=str(
                record.config.get("source") or record.config.get("url")
                or f"plugin {record.config.get('plugin')}"
            ),
            learner=str(record.config.get("learner")),
            worker=record.worker, events=int(metrics.pop("events", 0)),
            champion=(record.result or {}).get("champion"),
            scored=int(metrics.pop("scored", 0)), turbulent=metrics.pop(TURBULENT, None),
            restarts=len(record.restart_history or []),
            scores=metrics, best_rule=best_rule(metrics), created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at, error=record.error, lag=keeping.lag,
            events_per_second=keeping.events_per_second,
        )  # fmt: skip


class SourceFound(BaseModel):
    """What the stream's source found in its rows (a replayed file's all, a followed or polled
    source's so far), as of its last checkpoint: nothing is dropped without a word."""

    lines: list[str] = Field(description="The report as readable lines, the first a summary.")
    rows: int = Field(description="Data rows read (no header, banner or blank line).")
    events: int = Field(description="Events the rows made.")
    skipped: dict[str, int] = Field(
        description="Rows skipped, by reason: unparseable, non-positive price, wrong width, "
        "out of order, duplicate (a time repeated)."
    )  # fmt: skip
    examples: dict[str, list[str]] = Field(
        description="The first messages of each reason, naming the line and the value."
    )
    banner_lines: list[int] = Field(description="Lines above the header that were skipped.")
    newest_first: bool = Field(description="Whether the input ran newest first (replayed "
                               "oldest first).")  # fmt: skip
    time_formats: dict[str, int] = Field(description="Rows by how their time was written.")
    step: float | None = Field(description="The regular step between events, in seconds.")
    gaps: int = Field(description="Places where steps are missing.")
    missing: int = Field(description="Steps missing in all.")
    largest_gap: float = Field(description="The longest time between two events, seconds.")
    fixes: dict[str, int] = Field(description="Values corrected, by what was corrected.")
    left_out: dict[str, int] = Field(
        description="Columns left out of every event, with the rows that hold no number there."
    )
    incidents: dict[str, int] = Field(
        default_factory=dict, description="A live source's: what happened to its input (a file "
        "replaced, a poll that failed), by kind."
    )  # fmt: skip


class StreamDetail(StreamPublic):
    """A stream whole: its config, its restarts, and what its source found in its rows."""

    config: dict[str, Any]
    restart_history: list[RestartPublic]
    source_report: SourceFound | None = Field(
        None, description="What its source found in its rows, as of its last checkpoint "
        "(None before one: a stream that failed on its rows says them in its error)."
    )  # fmt: skip

    @classmethod
    def of(
        cls, record: ExperimentRecord, keeping: Pace = NO_PACE, found: Any = None
    ) -> StreamDetail:
        return cls(
            **StreamPublic.of(record, keeping).model_dump(),
            config=record.config,
            restart_history=[RestartPublic(**entry) for entry in record.restart_history or []],
            source_report=None if found is None else SourceFound.model_validate(found),
        )


class Trading(BaseModel):
    """A long/flat strategy over a window, net of the cost of each change of position."""

    total_return: float = Field(description="Compounded, as a fraction.")
    sharpe: float | None = Field(description="Annualised from the events' spacing; no risk-free.")
    max_drawdown: float = Field(description="The largest fall from a previous peak.")
    exposure: float = Field(description="The share of steps spent long.")
    steps: int = Field(description="Predictions traded (one every horizon events).")


class ModelScores(BaseModel):
    predictions: int = Field(description="Predictions scored in the window.")
    accuracy: float
    log_loss: float | None = Field(
        description="Its mean log-loss (None for a trivial rule: it gives no probabilities)."
    )
    win_rate: float | None = Field(
        None, description="The share of its long steps the price rose (None: never long)."
    )
    trading: Trading | None = Field(
        None, description="Long when it gives up 50 % or more (None: rows without gains)."
    )


class EquityCurve(BaseModel):
    """What 1 became, trading a model's predictions: at each event time (seconds)."""

    times: list[float]
    values: list[float]


class StreamScores(BaseModel):
    """Each model's scores over a window of events, computed again from the scored rows."""

    start: int = Field(description="The first event of the window (by its index).")
    end: int | None = Field(description="The event after the window (None: to the last).")
    models: dict[str, ModelScores] = Field(
        description="By model: each learner by its name ('logreg-adam-1') and the trivial rules."
    )
    cost: float = Field(description="The cost of each change of position, as a fraction.")
    buy_and_hold: Trading | None = Field(description="Always long over the same steps.")
    equity: dict[str, EquityCurve] = Field(
        default_factory=dict, description="Each model's equity curve trading as above, and "
        "'buy and hold''s, at most 400 points each.",
    )  # fmt: skip


class DecisionPublic(BaseModel):
    """A running paired test: pairs of losses seen, the mean difference (champion's minus
    the other's), and the two wealths (the other is taken at 1 / alpha, the champion kept at
    the same for ``against``)."""

    state: str = Field(description="running, promote, keep or undecided.")
    events: int
    mean_difference: float
    evidence: float
    against: float


class TrainingPublic(BaseModel):
    """A candidate being trained as a retrain run (a stream's ``retrain_as: run``)."""

    kind: str = Field(description="The learner's kind.")
    actor: str = Field(description="'loop', 'tuning' or who triggered it.")
    reason: str
    run: int | None = Field(description="The retrain run (None: not queued yet).")


class Candidates(BaseModel):
    """Who is champion, who is in shadow or being trained, and the tests running, as of the
    last checkpoint."""

    roles: dict[str, str] = Field(
        description="Role (champion, candidate, previous) to the learner's name."
    )
    kinds: dict[str, str] = Field(description="Each learner's kind, by name.")
    tests: dict[str, DecisionPublic] = Field(
        description="By the role judged: 'candidate' (promotion), 'previous' (rollback)."
    )
    paused: bool = Field(False, description="Whether a pause holds it (until a resume).")
    training: TrainingPublic | None = Field(
        None, description="The candidate being trained as a run, until it opens or fails."
    )
    ended: bool = Field(
        False, description="Whether the stream ended: the roles are those it ended with; its "
        "candidate, previous champion and training ended with it (no test runs any more)."
    )  # fmt: skip


class ChangePublic(BaseModel):
    """A step of the stream's loop: its lineage."""

    id: int
    kind: str = Field(
        description="drift, candidate, promote, keep, undecided, rollback, disarm, retrain "
        "(a candidate asked of a retrain run) or retrain_failed."
    )
    event: int = Field(description="The event (index) it came at.")
    time: float = Field(description="That event's time.")
    model: str = Field(description="The learner it is about.")
    other: str | None = Field(description="The champion it was compared with or replaced.")
    evidence: dict[str, float] = Field(description="The test's figures, or the detector's.")
    actor: str = Field(description="'loop', or who triggered it.")
    reason: str
    trigger_id: int | None
    created_at: float
    version: int | None = Field(
        None, description="For a promotion or a rollback: the version of the model named "
        "after the stream its champion alias was moved to (0: that name is another model's; "
        "None: not registered yet)."
    )  # fmt: skip
    run: int | None = Field(
        None, description="For a retrain, and the candidate it opened: the run that trained it."
    )


class TriggerCreate(RequestBody):
    """A manual trigger, carried out at the stream's next event boundary."""

    action: Literal[ACTIONS] = Field(  # type: ignore[valid-type]
        description="retrain: open a candidate now; promote: make the candidate champion now "
        "(rollback stays armed); rollback: bring the previous champion back; checkpoint: save "
        "one now; pause: take no event until a resume (triggers still are); resume."
    )
    learner: Literal[LEARNERS] | None = Field(  # type: ignore[valid-type]
        None, description="A retrain's learner (default: the champion's kind)."
    )
    reason: str = Field("", max_length=500, description="Why; kept with the change.")

    @model_validator(mode="after")
    def _learner_for_a_retrain(self) -> TriggerCreate:
        if self.learner is not None and self.action != "retrain":
            raise ValueError(f"learner is a retrain's; a {self.action} takes none")
        return self


class TriggerPublic(BaseModel):
    """A trigger and what came of it."""

    id: int
    action: str
    learner: str | None
    actor: str
    reason: str
    status: str = Field(description="pending, done or refused.")
    event: int | None = Field(description="The event it was taken at.")
    message: str = Field(description="What was done, or why it was refused.")
    created_at: float
    answered_at: float | None


class AlertPublic(BaseModel):
    """An alert of a stream's rule."""

    id: int
    stream_id: int
    rule: str = Field(description="accuracy_below, drift, worker_lost, restart_loop or lag_above.")
    state: str = Field(description="pending, firing or resolved.")
    value: float | None = Field(
        description="What the rule saw last while its condition held (what the message says)."
    )
    bound: float | None = Field(description="Its bound.")
    message: str = Field(description="What the rule saw last while its condition held.")
    started_at: float = Field(description="When its condition began to hold.")
    fired_at: float | None
    resolved_at: float | None
    resolved_value: float | None = Field(
        None, description="What the rule saw when it resolved (None: open, or a rule that "
        "has no value)."
    )  # fmt: skip

    @classmethod
    def of(cls, alert: AlertRecord) -> AlertPublic:
        fields = {k: v for k, v in asdict(alert).items() if k != "experiment_id"}
        return cls(stream_id=alert.experiment_id, **fields)


class ImportancePublic(BaseModel):
    feature: str
    mean: float = Field(description="The rise in mean log-loss when it is shuffled.")
    spread: float = Field(description="The standard deviation of that rise over the shuffles.")


class Explanation(BaseModel):
    """Which features a learner leans on over a window of the stream's events."""

    learner: str
    kind: str
    version: int | None = Field(
        None, description="The registry version explained (None: the stream's learner now)."
    )
    start: int
    end: int
    examples: int = Field(description="Examples made in the window (those whose outcome came).")
    log_loss: float = Field(description="The learner's mean log-loss on them.")
    importances: list[ImportancePublic] = Field(description="Most important first.")


class StreamPredict(RequestBody):
    """Prices, oldest first, for the champion to predict the direction after the last."""

    closes: list[float] = Field(
        ..., min_length=MIN_CLOSES, max_length=1000,
        description=f"At least {MIN_CLOSES} prices (the features' warm-up), oldest first.",
    )  # fmt: skip


class StreamPrediction(BaseModel):
    learner: str = Field(description="The champion that predicted.")
    probability_up: float = Field(
        description="Its probability that the price is higher `horizon` steps after the last."
    )
    checkpoint_events: int = Field(description="Events the stream had taken at that champion.")


class StreamsPublic(BaseModel):
    data: list[StreamPublic]
    total: int
    offset: int
    limit: int


@router.get("/schema", dependencies=[READ], responses=ERRORS)
def get_schema() -> dict[str, Any]:
    """The JSON Schema of a stream's config (what POST /streams takes as ``config``)."""
    return StreamConfig.model_json_schema()


@router.get("/alerts", dependencies=[READ], response_model=list[AlertPublic], responses=ERRORS)
def list_alerts(
    store: StoreDep,
    state: Annotated[
        list[Literal["pending", "firing", "resolved"]] | None,
        Query(description="Only these states (repeat the parameter)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertPublic]:
    """Every stream's alerts, newest first (``state=firing``: what fires now)."""
    return [AlertPublic.of(a) for a in store.list_alerts(states=state or (), limit=limit)]


@router.post(
    "",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=StreamDetail,
    responses=ERRORS,
)
def create_stream(
    body: StreamCreate,
    store: StoreDep,
    transport: TransportDep,
    settings: SettingsDep,
    folder: DataFolderDep,
    who: Writer,
) -> StreamDetail:
    """Start a stream: it is queued as a supervised job and runs on a worker until its source
    ends, ``max_events``, or a stop; restarted from its last checkpoint when its worker dies.
    A bad config is 422 naming each field's path; its ``source`` is a registered dataset or a
    file of the project's data folder."""
    record = start_stream(
        store, transport, settings, body.config, name=body.name, data_folder=folder,
        submitter=who.user,
    )  # fmt: skip
    return StreamDetail.of(record)


StreamsCsv = csv_of(StreamPublic)
"""The CSV parameters of the list of StreamPublic."""


@router.get(
    "",
    dependencies=[READ],
    response_model=StreamsPublic,
    responses={**ERRORS, **csv_responses("The streams.")},
)
def list_streams(
    store: StoreDep,
    csv: Annotated[CsvAsked | None, StreamsCsv],
    status_: Annotated[
        list[Annotated[str, status_list(ALL_STATES)]] | None,
        Query(alias="status", description="Repeat or comma-separate (no spaces)."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StreamsPublic | Response:
    """A page of streams, newest first; or (``format=csv``, or ``Accept: text/csv``) every
    stream the filter keeps as CSV."""
    query = ExperimentQuery(statuses=comma_separated(status_), kinds=(STREAM,))

    def page(offset: int, limit: int) -> tuple[list[StreamPublic], int]:
        found = store.list_experiments(replace(query, offset=offset, limit=limit))
        now = time.time()
        return [StreamPublic.of(r, pace(store, r, now)) for r in found.items], found.total

    return page_or_csv(page, csv, "streams.csv", StreamsPublic, offset, limit)


@router.get("/{stream_id}", dependencies=[READ], response_model=StreamDetail, responses=ERRORS)
def get_stream(stream_id: StreamId, store: StoreDep) -> StreamDetail:
    """One stream: config, where it runs, how far it got and how it keeps up, its scores, its
    restarts, and what its source found in its rows (``source_report``: skipped rows with
    their lines and reasons, repeated times, gaps, banners, times written several ways)."""
    record = _stream(store, stream_id)
    found = store.find_checkpoint_entry(stream_id, SOURCE_FOUND)
    return StreamDetail.of(record, pace(store, record, time.time()), found)


@router.get(
    "/{stream_id}/scores", dependencies=[READ], response_model=StreamScores, responses=ERRORS
)
def get_scores(
    stream_id: StreamId,
    store: StoreDep,
    start: Annotated[int, Query(ge=0, le=MAX_EVENT, description="First event (index).")] = 0,
    end: Annotated[
        int | None, Query(ge=1, le=MAX_EVENT, description="Event after the last (index).")
    ] = None,
    cost: Annotated[
        float, Query(ge=0, le=0.1, description="Cost of a change of position (0.001: 0.1 %).")
    ] = 0.001,
) -> StreamScores:
    """Each model's accuracy and log-loss over the predictions made at events ``start`` to
    ``end`` (excluded), and its win rate, return, Sharpe and drawdown trading on them (long
    when it gives up 50 % or more, flat otherwise, one prediction every ``horizon`` events so
    that no two overlap), beside buy and hold over the same steps; from the stream's scored
    rows (as of its last checkpoint): any window, not only the running and recent scores."""
    record = _stream(store, stream_id)
    if end is not None and end <= start:
        raise InvalidParameterError(f"end ({end}) must be after start ({start})")
    found = store.outcome_scores(stream_id, start, end)
    horizon = stream_config(record).horizon
    gains = store.outcome_gains(stream_id, every=horizon, start=start, end=end)
    trading = trading_scores(gains, cost=cost)
    models = {}
    for model, (n, accuracy, loss) in found.items():
        figures = trading.models.get(model)
        models[model] = ModelScores(
            predictions=n, accuracy=accuracy, log_loss=loss if has_log_loss(model) else None,
            win_rate=figures["win_rate"] if figures else None,
            trading=Trading.model_validate(figures) if figures else None,
        )  # fmt: skip
    market = Trading.model_validate(trading.market) if trading.market else None
    equity = {
        model: EquityCurve(times=times, values=values)
        for model, (times, values) in trading.equity.items()
    }
    return StreamScores(
        start=start, end=end, models=models, cost=cost, buy_and_hold=market, equity=equity
    )


@router.get(
    "/{stream_id}/candidates", dependencies=[READ], response_model=Candidates, responses=ERRORS
)
def get_candidates(stream_id: StreamId, store: StoreDep) -> Candidates:
    """The champion, the candidate in shadow and the previous champion while rollback is
    armed, with their tests' running state, as of the stream's last checkpoint (its first
    champion before one); for a stream that ended, those it ended with (``ended``)."""
    record = _stream(store, stream_id)
    config, ended = stream_config(record), record.status in FINISHED_STATES
    state = store.load_checkpoint(stream_id)
    if state is None:
        first = f"{config.learner}-1"
        return Candidates(
            roles={CHAMPION: first}, kinds={first: config.learner}, tests={}, ended=ended
        )
    try:
        found = standing(state, config.rules())
        paused = bool(state.get("paused")) and not ended
        return Candidates.model_validate({**found, "paused": paused, "ended": ended})
    except InvalidParameterError as e:  # a checkpoint of an older AzuraForge
        raise ConflictError(f"stream {stream_id}: {e}") from None


@router.get(
    "/{stream_id}/lineage",
    dependencies=[READ],
    response_model=list[ChangePublic],
    responses=ERRORS,
)
def get_lineage(
    stream_id: StreamId,
    store: StoreDep,
    kind: Annotated[
        list[Literal[CHANGE_KINDS]] | None,  # type: ignore[valid-type]
        Query(description="Only these kinds (repeat the parameter)."),
    ] = None,
    after: Annotated[
        int, Query(ge=0, le=MAX_EVENT, description="Changes after this one (by id): paging.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[ChangePublic]:
    """The stream's lineage, oldest first: each drift, candidate, promotion (the champion
    alias moved, with the test's evidence), candidate ended, rollback and disarm, as of its
    last checkpoint; ``limit`` of them after ``after`` (the last id of a page gives the
    next)."""
    _stream(store, stream_id)
    changes = store.list_changes(stream_id, kinds=kind or (), after=after, limit=limit)
    return [ChangePublic.model_validate(change, from_attributes=True) for change in changes]


@router.post(
    "/{stream_id}/triggers",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriggerPublic,
    responses=ERRORS,
)
def create_trigger(
    stream_id: StreamId, body: TriggerCreate, store: StoreDep, who: Writer
) -> TriggerPublic:
    """Ask a stream for a retrain, a promotion, a rollback or a checkpoint; it is taken at
    the stream's next event boundary (within a second of a running stream's events) and its
    answer (done, or refused saying why) is read back with GET. 409 once the stream ended."""
    found = _stream(store, stream_id)
    if found.status in FINISHED_STATES:
        raise ConflictError(f"stream {stream_id} already ended as {found.status}; start it again")
    trigger = store.create_trigger(stream_id, body.action, learner=body.learner, actor=who.user,
                                reason=body.reason)  # fmt: skip
    return TriggerPublic.model_validate(trigger, from_attributes=True)


@router.get(
    "/{stream_id}/explain", dependencies=[READ], response_model=Explanation, responses=ERRORS
)
def get_explanation(
    stream_id: StreamId,
    store: StoreDep,
    settings: SettingsDep,
    blobs: BlobsDep,
    start: Annotated[int, Query(ge=0, le=MAX_EVENT, description="First event (index).")],
    end: Annotated[int, Query(ge=1, le=MAX_EVENT, description="Event after the last.")],
    learner: Annotated[
        str | None, Query(max_length=100, description="A learner's name (default: champion).")
    ] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_EVENT, description=VERSION_HELP)] = None,
    repeats: Annotated[int, Query(ge=1, le=20, description="Shuffles a feature.")] = 3,
) -> Explanation:
    """Permutation importance of each feature to the champion (or ``learner``) as the
    stream's last checkpoint holds it, or to the learner ``version`` of the stream's
    registry model keeps, over the examples of events ``start`` to ``end`` (at most 5,000
    events): how much its mean log-loss rises when the feature is shuffled, beside the spread
    of the shuffles."""
    record = _stream(store, stream_id)
    found = explain(store, settings, blobs, record, start=start, end=end, learner=learner,
                    version=version, repeats=repeats)  # fmt: skip
    return Explanation.model_validate(found)


@router.post(
    "/{stream_id}/predict", dependencies=[READ], response_model=StreamPrediction, responses=ERRORS
)
async def predict(
    stream_id: StreamId, body: StreamPredict, request: Request, who: Reader
) -> Response:
    """The probability that the price is higher ``horizon`` steps after the last of
    ``closes``, by the stream's champion as its last checkpoint holds it (read again at most
    once a second): 409 before its first checkpoint, 400 for prices that are not positive."""
    streams: StreamServer = request.app.state.streams
    champion = streams.cached(stream_id, who.project)
    if champion is None:
        champion = await run_in_threadpool(streams.get, stream_id, who.project)
    answer = {"learner": champion.name, "probability_up": champion.predict(body.closes),
              "checkpoint_events": champion.events}  # fmt: skip
    return Response(json.dumps(answer), media_type="application/json")


@router.get(
    "/{stream_id}/alerts", dependencies=[READ], response_model=list[AlertPublic], responses=ERRORS
)
def get_alerts(stream_id: StreamId, store: StoreDep) -> list[AlertPublic]:
    """The stream's alerts, newest first: each rule's pending, firing and resolved ones."""
    _stream(store, stream_id)
    return [AlertPublic.of(alert) for alert in store.list_alerts(stream_id)]


@router.get(
    "/{stream_id}/triggers",
    dependencies=[READ],
    response_model=list[TriggerPublic],
    responses=ERRORS,
)
def list_triggers(stream_id: StreamId, store: StoreDep) -> list[TriggerPublic]:
    """The stream's triggers, oldest first, with their answers."""
    _stream(store, stream_id)
    found = store.list_triggers(stream_id)
    return [TriggerPublic.model_validate(trigger, from_attributes=True) for trigger in found]


@router.post(
    "/{stream_id}/stop",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StreamPublic,
    responses=ERRORS,
)
def stop_stream(stream_id: StreamId, store: StoreDep, transport: TransportDep) -> StreamPublic:
    """Stop a stream: a queued one at once; a running one at its next event, after its last
    checkpoint; it ends ``cancelled``. A stream that already ended is 409."""
    found = _stream(store, stream_id)
    if found.status in FINISHED_STATES:
        raise ConflictError(f"stream {stream_id} already ended as {found.status}; nothing to stop")
    record = store.request_cancel(stream_id)
    transport.cancel(stream_id)
    return StreamPublic.of(record)


def _stream(store: Store, stream_id: int) -> ExperimentRecord:
    """The stream with this id; 404 for any other job (its existence is not a stream's)."""
    return find_stream(store, stream_id)
