"""Bodies of ``/streams`` (:mod:`~azuraforge.platform.api.routes.streams`): a stream to start,
a stream as lists and its detail show it, its scores, candidates, lineage, triggers, alerts,
explanations and predictions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from azuraforge.platform.api.schemas.common import Page, RequestBody
from azuraforge.platform.api.schemas.runs import RestartPublic
from azuraforge.platform.services.streams.loop import ACTIONS, TURBULENT
from azuraforge.platform.services.streams.readings import Pace
from azuraforge.platform.services.streams.serving import MIN_CLOSES
from azuraforge.platform.store import AlertRecord, ExperimentRecord
from azuraforge.stream.direction import LEARNERS
from azuraforge.stream.online import best_rule

NO_PACE = Pace(None, None)


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


class StreamsPublic(Page[StreamPublic]):
    pass
