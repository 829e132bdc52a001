"""``azuraforge stream start|list|show|stop|trigger|promote|rollback|lineage``: streams run by
a server as supervised jobs,
through the REST API of a running ``azuraforge serve`` (``--api-url`` or
``AZURAFORGE_API_URL``). ``azuraforge stream replay`` (cli/stream.py) runs in this process."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from azuraforge.cli.common import (
    ApiUrl,
    ConfigFile,
    ProjectName,
    SetOptions,
    Verbose,
    arguments,
    console,
    parse_sets,
    read_config,
    shown_time,
    user_errors,
)
from azuraforge.client import Client
from azuraforge.stream.shadow import CANDIDATE, CHAMPION, PREVIOUS

ROLES = (CHAMPION, CANDIDATE, PREVIOUS)

StreamId = Annotated[int, typer.Argument(help="Stream id (azuraforge stream list).")]


def start(
    source: Annotated[
        str | None,
        typer.Argument(
            help="A dataset (btc-hourly, sp500-daily), a CSV of the project's data folder, or "
            "an http(s) address to poll (one the server's stream_urls allow)."
        ),
    ] = None,
    config: ConfigFile = None,
    sets: SetOptions = None,
    name: Annotated[str | None, typer.Option("--name", help="Unique in the project.")] = None,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Start a stream on the server: it learns the next direction of its source's price one
    event at a time, on a worker, restarted from its last checkpoint if the worker dies.
    Settings: `azuraforge stream schema`; --set learner=mlp --set horizon=6 ..."""
    with user_errors(verbose):
        with arguments():
            settings = {**read_config(config), **parse_sets(sets or [])}
            if source is not None:
                polled = source.lower().startswith(("http://", "https://"))
                settings["url" if polled else "source"] = source
            created = Client.from_environment(api, project).streams.start(settings, name=name)
        console.print(
            f"stream {created['id']} ({created['name']}): {created['status']}, "
            f"{created['learner']} on {created['source']}; watch it with "
            f"`azuraforge stream show {created['id']}`"
        )


def list_(
    status: Annotated[
        str | None, typer.Option("--status", help="Comma-separated statuses.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """The server's streams, newest first: how far each got, how its learner scores beside
    the best trivial rule (named), what trading its champion returned beside buy and hold
    over the same steps (net of 0.1 % a change), how often it was restarted (`stream show
    ID` for the rest)."""
    with user_errors(verbose):
        with arguments():
            streams = Client.from_environment(api, project).streams
            page = streams.list(status=status or None, limit=limit)
        table = Table(title=f"{page.total:,} streams")
        # Six columns fit 80: the learner under the name, the restarts under the status.
        for column in ("id", "name", "status", "events"):
            table.add_column(column, no_wrap=column in ("id", "status"))
        table.add_column("accuracy vs best rule", min_width=14)
        table.add_column("return vs buy and hold")
        for row in page.data:
            scores, restarts = row["scores"], row["restarts"]
            table.add_row(
                str(row["id"]), f"{row['name']}\n{row['learner']}",
                row["status"] + (f"\n{restarts} restarts" if restarts else ""),
                f"{row['events']:,}", _beside_rule(scores, row.get("best_rule")),
                _beside_holding(scores),
            )  # fmt: skip
        console.print(table)


def _beside_rule(scores: dict[str, float], rule: str | None) -> str:
    """The champion's accuracy beside the best trivial rule's, named."""
    ours = scores.get("champion/accuracy")
    if ours is None or rule is None:
        return "-"
    return f"{ours:.2%} vs {rule} {scores[f'{rule}/accuracy']:.2%}"


def _beside_holding(scores: dict[str, float]) -> str:
    """What trading the champion returned beside buy and hold over the same steps."""
    ours, held = scores.get("champion/return"), scores.get("champion/buy_and_hold_return")
    return "-" if ours is None or held is None else f"{ours:+.1%} vs {held:+.1%}"


def show(
    stream_id: StreamId, api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """One stream: status, worker, progress, its champion and candidate with their test's
    running state, each role's scores beside the trivial rules', its last changes and its
    restarts."""
    with user_errors(verbose):
        with arguments():
            streams = Client.from_environment(api, project).streams
            detail = streams.get(stream_id)
            lineage = streams.lineage(stream_id)
            standing = streams.candidates(stream_id) if detail["events"] else None
        _print_summary(detail)
        if standing is not None:
            console.print(_standing_line(standing))
        if detail["scores"]:
            console.print(_scores_table(detail["scores"]))
        _print_history(detail, lineage)


def _print_summary(detail: dict[str, Any]) -> None:
    """A stream's first lines: what it learns from, its pace, its trading return, its
    error and what its source found in its rows."""
    console.print(
        f"stream {detail['id']} {detail['name']}: {detail['status']}, {detail['learner']} on "
        f"{detail['source']}, {detail['events']:,} events, {detail['scored']:,} predictions "
        f"scored, worker {detail['worker'] or '-'}"
    )
    if pace := _pace_line(detail):
        console.print(f"  {pace}")
    if (traded := _beside_holding(detail["scores"])) != "-":
        console.print(f"  return trading its champion vs buy and hold: {traded} (net of "
                      "0.1 % a change)")  # fmt: skip
    if detail["error"]:
        console.print(f"  {detail['error']}")
    for line in _source_lines(detail.get("source_report")):
        console.print(line, markup=False)  # a file's values, never markup


def _print_history(detail: dict[str, Any], lineage: list[dict[str, Any]]) -> None:
    """A stream's last five changes of champion and its restarts."""
    for change in lineage[-5:]:
        console.print(f"  {_change_line(change)}")
    for restart in detail["restart_history"]:
        when, reason = shown_time(restart["at"]), restart["reason"]
        console.print(f"  restarted {when} ({reason}): {restart['detail']}")


def _source_lines(found: dict[str, Any] | None) -> list[str]:
    """What the stream's source found in its rows: its summary, then each finding indented
    (skipped rows with their lines and reasons, repeated times, gaps, banners, times written
    in more than one way)."""
    if not found:
        return []
    first, *rest = found["lines"]
    return [f"  source: {first}", *(f"    {line}" for line in rest)]


def _pace_line(detail: dict[str, Any]) -> str:
    """How the stream keeps up and its price's regime, as far as they are known."""
    parts = []
    if detail["events_per_second"] is not None:
        parts.append(f"{detail['events_per_second']:,.0f} events/s")
    if detail["lag"] is not None:
        parts.append(f"last checkpoint {detail['lag']:.0f} s ago")
    if detail["turbulent"] is not None:
        parts.append(f"turbulent regime {detail['turbulent']:.0%} of the events before it")
    return ", ".join(parts)


def stop(
    stream_id: StreamId, api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """Stop a stream (a running one at its next event, after its last checkpoint)."""
    with user_errors(verbose):
        with arguments():
            row = Client.from_environment(api, project).streams.stop(stream_id)
        asked = (
            " (stop requested: it stops at its next event)" if row["status"] == "running" else ""
        )
        console.print(f"stream {stream_id}: {row['status']}{asked}")


Action = Annotated[
    str,
    typer.Argument(
        help="retrain, promote, rollback, checkpoint, pause or resume.", show_default=False
    ),
]
Reason = Annotated[str, typer.Option("--reason", help="Why; kept with the change.")]
Wait = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for the stream's answer.")
]


def trigger(
    stream_id: StreamId,
    action: Action,
    learner: Annotated[
        str | None,
        typer.Option("--learner", help="A retrain's learner (default: the champion's)."),
    ] = None,
    reason: Reason = "",
    wait: Wait = 30.0,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Ask a running stream for a retrain (a candidate now), a promotion (the candidate is
    champion now; rollback stays armed), a rollback, a checkpoint, a pause or a resume; the
    stream takes it at its next event. Exits 1 when the stream refuses it (it says why)."""
    _trigger(stream_id, action, (api, project), verbose, reason=reason, wait=wait,
             learner=learner)  # fmt: skip


def promote(
    stream_id: StreamId, reason: Reason = "", wait: Wait = 30.0, api: ApiUrl = None,
    project: ProjectName = None, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Make the stream's candidate champion now, whatever its test says (rollback is armed
    as after any promotion)."""
    _trigger(stream_id, "promote", (api, project), verbose, reason=reason, wait=wait)


def rollback(
    stream_id: StreamId, reason: Reason = "", wait: Wait = 30.0, api: ApiUrl = None,
    project: ProjectName = None, verbose: Verbose = False,
) -> None:  # fmt: skip
    """Bring the stream's previous champion back now (while rollback is armed)."""
    _trigger(stream_id, "rollback", (api, project), verbose, reason=reason, wait=wait)


def _trigger(
    stream_id: int, action: str, where: tuple[str | None, str | None], verbose: bool, *,
    reason: str, wait: float, learner: str | None = None,
) -> None:  # fmt: skip
    """Post a trigger (``where``: the API's URL and the project), wait up to ``wait`` seconds
    for the stream's answer and print it; the stream records the caller as who asked."""
    with user_errors(verbose):
        with arguments():
            streams = Client.from_environment(*where).streams
            answer = streams.trigger(stream_id, action, reason=reason, learner=learner, wait=wait)
        if answer["status"] == "pending":
            console.print(f"stream {stream_id}: {action} asked (trigger {answer['id']}); "
                          "it is taken at the stream's next event")  # fmt: skip
        else:
            console.print(f"stream {stream_id}: {action} {answer['status']} at event "
                          f"{answer['event']:,}: {answer['message']}")  # fmt: skip
    if answer["status"] == "refused":
        raise typer.Exit(1)


def lineage(
    stream_id: StreamId,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only these kinds (repeatable).")
    ] = None,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """The stream's lineage, oldest first: each drift, candidate, promotion (with the test's
    evidence), candidate ended, rollback and disarm, by whom and why."""
    with user_errors(verbose):
        with arguments():
            changes = Client.from_environment(api, project).streams.lineage(stream_id, kinds=kind)
        caption = "evidence: the test's wealth for / against, mean difference"
        table = Table("event", "change", "by", "why", caption=caption)
        table.columns[0].no_wrap = True
        for change in changes:  # four columns: the reason stays readable in 80 columns
            what = f"{change['kind']} {change['model']}{_run(change)}"
            against, evidence = change["other"], _evidence(change["evidence"])
            table.add_row(
                f"{change['event']:,}", what + (f"\nvs {against}" if against else ""),
                change["actor"], change["reason"] + (f"\nevidence {evidence}" if evidence else ""),
            )  # fmt: skip
        console.print(table)


def schema(api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False) -> None:
    """The settings a stream takes, with their defaults."""
    with user_errors(verbose):
        with arguments():
            found = Client.from_environment(api, project).streams.schema()
        table = Table("setting", "default", "description")
        for name, field in found["properties"].items():
            default = (
                "(required)" if name in found.get("required", []) else repr(field.get("default"))
            )
            table.add_row(name, default, field.get("description", ""))
        console.print(table)


SCORES = ("accuracy", "log_loss", "recent_accuracy", "recent_log_loss")


def _scores_table(scores: dict[str, float]) -> Table:
    """Each role's scores (champion, candidate, previous), then each trivial rule's (``—``
    for a score it has not: a rule gives no probabilities, so no log-loss)."""
    table = Table("model", "accuracy", "log-loss", "recent accuracy", "recent log-loss")
    for model in sorted({key.split("/", 1)[0] for key in scores}, key=_model_order):
        values = (scores.get(f"{model}/{score}") for score in SCORES)
        table.add_row(model, *("—" if value is None else f"{value:.4f}" for value in values))
    return table


def _model_order(name: str) -> tuple[int, str]:
    return (ROLES.index(name) if name in ROLES else len(ROLES)), name


def _standing_line(standing: dict[str, Any]) -> str:
    """Who is champion, in shadow, kept for rollback, with the tests' running state; for a
    stream that ended, the champion it ended with, and what ended with it."""
    roles, tests = standing["roles"], standing["tests"]
    ended = " ended with the stream" if standing.get("ended") else ""
    parts = [f"champion {roles[CHAMPION]}" + (" at its end" if ended else "")]
    for role, label in ((CANDIDATE, "candidate"), (PREVIOUS, "rollback armed to")):
        if role in roles:
            test = tests.get(role)
            state = f" (evidence {_evidence(test)} after {int(test['events']):,} pairs)" if (
                test) else ""  # fmt: skip
            parts.append(f"{label} {roles[role]}{state}{ended}")
    training = standing.get("training")
    if training:
        run = f" as run {training['run']}" if training["run"] is not None else ""
        parts.append(f"training {training['kind']}{run}{ended}")
    return "  " + "; ".join(parts)


def _change_line(change: dict[str, Any]) -> str:
    other = f" vs {change['other']}" if change["other"] else ""
    by = "" if change["actor"] == "loop" else f" by {change['actor']}"
    why = f": {change['reason']}" if change["reason"] else ""
    return (f"event {change['event']:,}: {change['kind']} {change['model']}{_run(change)}"
            f"{other}{by}{why}")  # fmt: skip


def _run(change: dict[str, Any]) -> str:
    """The run that trained a change's learner, as shown after its name."""
    return f" (run {change['run']})" if change.get("run") else ""


def _evidence(evidence: dict[str, Any]) -> str:
    """A test's evidence as shown: the wealth for and against, the mean difference."""
    if "evidence" not in evidence:
        return ""
    return (f"{evidence['evidence']:.3g} / {evidence['against']:.3g}, "
            f"{evidence['mean_difference']:+.4f}")  # fmt: skip
