"""``azuraforge assist``: train, evaluate and try the intent router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from azuraforge.assist import CharNgrams, IntentRouter, default_router, load_examples
from azuraforge.assist.embeddings import E5, Embedder
from azuraforge.assist.intents import uneven_counts
from azuraforge.assist.routing import train_router
from azuraforge.cli.common import (
    ApiUrl,
    ProjectName,
    UsageError,
    Verbose,
    arguments,
    console,
    shown_time,
    user_errors,
)
from azuraforge.cli.experts import eval_expert_command, experts_command, train_expert_command
from azuraforge.client import Client
from azuraforge.errors import InvalidParameterError

app = typer.Typer(help="The assistant: its intent router and its experts.", no_args_is_help=True)
app.command("train-expert")(train_expert_command)
app.command("eval-expert")(eval_expert_command)
app.command("experts")(experts_command)

EmbedderName = Annotated[
    str, typer.Option("--embedder", help="e5 (the packaged E5 model) or ngrams (no model)")
]
Threshold = Annotated[
    float,
    typer.Option(min=0.0, max=1.0, help="confidence below which a message goes to the fallback"),
]
RouterFolder = Annotated[
    Path | None,
    typer.Option("--router", help="a folder written by train-router (default: the shipped one)"),
]


def _embedder(name: str) -> Embedder:
    if name == "e5":
        return E5()
    if name == "ngrams":
        return CharNgrams()
    raise UsageError(f"--embedder must be e5 or ngrams, got {name!r}")


def existing(path: Path) -> Path:
    """``path``, when it is a file (a usage error otherwise)."""
    if not path.is_file():
        raise UsageError(f"no file {str(path)!r}")
    return path


def router_from(folder: Path | None) -> IntentRouter:
    """The router saved in ``folder`` (with its own embedder), or the shipped one."""
    return default_router() if folder is None else IntentRouter.load(folder)


@app.command("train-router")
def train_router_command(
    data: Annotated[
        Path, typer.Argument(help="labelled JSONL/CSV (text, label) or YAML templates")
    ],
    out: Annotated[Path, typer.Option("--out", help="folder for router.json and weights.npz")],
    embedder: EmbedderName = "e5",
    threshold: Threshold = 0.7,
    fallback: Annotated[
        str | None,
        typer.Option(help="the label of an unsure message (default: general_chat, if a label)"),
    ] = None,
    code_rules: Annotated[
        bool | None,
        typer.Option(
            "--code-rules/--no-code-rules",
            help="send pasted errors to code_debug by rule (default: if code_debug is a label)",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Train a router on any labelled file and save it into a folder."""
    with user_errors(verbose):
        source, model = existing(data), _embedder(embedder)
        with arguments():  # a fallback or code rules that the labels cannot have
            router = train_router(
                source, model, threshold, fallback=fallback, code_rules=code_rules
            )
        counts = router.info["per_label"]
        console.print(
            f"{router.info['examples']:,} examples: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
        warning = uneven_counts(counts)
        if warning is not None:
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
        router.save(out)
        console.print(
            f"saved to {out} in {router.info['seconds']} s; held-out accuracy "
            f"{router.info['held_out_accuracy']:.2%}, temperature {router.temperature:.3f}; "
            f"fallback {router.fallback}, code rules {'on' if router.code_rules else 'off'}"
        )


@app.command("eval-router")
def eval_router(
    data: Annotated[Path, typer.Argument(help="labelled JSONL/CSV the router never saw")],
    router: RouterFolder = None,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="evaluate at this threshold (default: the saved one)"),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Accuracy, per-intent recall and latency of a router on a labelled file (embedded
    with the embedder the router was trained with)."""
    with user_errors(verbose):
        model = router_from(router)
        if threshold is not None:
            model.threshold = threshold
        examples = load_examples(existing(data), labels=model.labels)
        routes = [model.route(e.text) for e in examples]
        hits = [r.intent == e.label for r, e in zip(routes, examples, strict=True)]
        title = f"{model.embedder.name} router, threshold {model.threshold:g}"
        table = Table("intent", "examples", "recall", title=title)
        for label in model.labels:
            mine = [h for h, e in zip(hits, examples, strict=True) if e.label == label]
            table.add_row(label, str(len(mine)), f"{np.mean(mine):.1%}" if mine else "-")
        console.print(table)
        latency = np.array([r.latency_ms for r in routes])
        console.print(
            f"accuracy {np.mean(hits):.1%} on {len(examples)}; latency median "
            f"{np.median(latency):.1f} ms, p95 {np.percentile(latency, 95):.1f} ms; "
            f"fallbacks {sum(r.source == 'fallback' for r in routes)}"
        )


@app.command()
def route(
    text: Annotated[str, typer.Argument(help="the message")],
    router: RouterFolder = None,
    verbose: Verbose = False,
) -> None:
    """Where one message goes, with every intent's probability."""
    with user_errors(verbose):
        if not text.strip():  # as the chat routes refuse it (422)
            raise InvalidParameterError(
                f"a message needs some text, got {text!r}: an empty message or one of only "
                "spaces is not routed"
            )
        result = router_from(router).route(text)
        console.print(
            f"{result.intent} ({result.confidence:.2f}, {result.source}"
            + (f", model said {result.candidate}" if result.candidate else "")
            + f", {result.latency_ms:.1f} ms)"
        )
        for label, score in sorted(result.scores.items(), key=lambda kv: -kv[1]):
            console.print(f"  {label:<16} {score:.3f}")


@app.command("router")
def router_command(
    api: ApiUrl = None, project: ProjectName = None, verbose: Verbose = False
) -> None:
    """What the server's backend selector measured per task type (the intent) and backend,
    and which backend it prefers for each task now (``*``)."""
    with user_errors(verbose):
        rows = Client.from_environment(api, project).chat.performance()
        table = Table("task", "backend", "good", "answers", "errors", "first token", "tokens/s",
                      title="the backend selector (a verdict counts as good or bad)")  # fmt: skip
        for row in rows:
            first, speed = row["first_token_ms"], row["tokens_per_s"]
            table.add_row(
                row["task"], ("* " if row["preferred"] else "  ") + row["candidate"],
                f"{row['success_rate']:.0%} of {row['successes'] + row['failures']:.1f}",
                str(row["answers"]), str(row["errors"]),
                "-" if first is None else f"{first:.0f} ms",
                "-" if speed is None else f"{speed:.1f}",
            )  # fmt: skip
        console.print(table if rows else "no answers measured yet: chat first")


@app.command("memories")
def memories_command(
    query: Annotated[str | None, typer.Argument(help="find the memories nearest to this")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="memories shown at most")] = 20,
    forget: Annotated[int | None, typer.Option(help="forget the memory of this id")] = None,
    forget_all: Annotated[bool, typer.Option("--forget-all", help="forget every one")] = False,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """What the server's assistant remembers of you in the project (the messages you sent in
    its chat): the newest first, or the nearest to QUERY; --forget ID or --forget-all."""
    with user_errors(verbose):
        if forget is not None and forget_all:
            raise UsageError("give --forget ID or --forget-all, not both")
        chat = Client.from_environment(api, project).chat
        if forget is not None or forget_all:
            gone = chat.forget(forget)
            console.print(f"forgot {gone} {'memory' if gone == 1 else 'memories'}")
            return
        found = chat.memories(query, limit=limit)
        table = Table("id", "when", "conversation", "kind", "memory",
                      *(["similarity"] if query else []))  # fmt: skip
        for memory in found:
            close = [f"{memory['similarity']:.2f}"] if query else []
            table.add_row(
                str(memory["id"]), shown_time(memory["created_at"]),
                str(memory["conversation_id"] or "-"), memory["kind"], escape(memory["text"]),
                *close,
            )  # fmt: skip
        console.print(table if found else "nothing remembered yet: chat first")


@app.command("examples")
def examples_command(
    status: Annotated[
        str | None, typer.Option(help="candidate, approved or rejected (default: all)")
    ] = None,
    expert: Annotated[str | None, typer.Option(help="this expert's only")] = None,
    approve: Annotated[int | None, typer.Option(help="approve the example of this id")] = None,
    reject: Annotated[int | None, typer.Option(help="reject the example of this id")] = None,
    output: Annotated[
        str | None, typer.Option(help="with --approve: the right output to keep")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="examples shown at most")] = 20,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """The project's training examples (answers marked bad or corrected, code the guardian
    found failing); --approve ID [--output TEXT] or --reject ID reviews one."""
    with user_errors(verbose):
        if approve is not None and reject is not None:
            raise UsageError("give --approve ID or --reject ID, not both")
        if output is not None and approve is None:
            raise UsageError("--output goes with --approve ID")
        chat = Client.from_environment(api, project).chat
        reviewed = approve if approve is not None else reject
        if reviewed is not None:
            with arguments():
                done = chat.review(reviewed, status="rejected" if approve is None else "approved",
                                   output=output)  # fmt: skip
            console.print(f"example {done['id']} {done['status']}")
            return
        with arguments():
            found = chat.examples(status, expert=expert, limit=limit)
        table = Table("id", "expert", "status", "seen", "prompt", "why", "right output")
        for e in found:
            table.add_row(
                str(e["id"]), e["expert"], e["status"], str(e["seen"]),
                escape(_line(e["prompt"])), escape(_line(e["why"])),
                escape(_line(e["output"] or "-")),
            )  # fmt: skip
        console.print(table if found else "no examples yet: they come from answers marked bad")


@app.command("fine-tune")
def fine_tune_command(
    expert: Annotated[str, typer.Argument(help="the expert to fine-tune (python, turkish...)")],
    steps: Annotated[int, typer.Option(min=1, help="optimiser steps")] = 100,
    held_out: Annotated[
        float, typer.Option(min=0, max=0.99, help="share of approved examples kept to judge it")
    ] = 0.3,
    frozen: Annotated[int, typer.Option(min=0, help="examples of the frozen set judged")] = 20,
    checkpoint_every: Annotated[
        int, typer.Option(min=1, help="steps between two kept states of the training")
    ] = 25,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Queue a fine-tune of EXPERT on its approved examples on the server's workers; its new
    adapter is promoted only if the paired test says it is better (docs/assist.md)."""
    with user_errors(verbose):
        with arguments():
            run = Client.from_environment(api, project).chat.fine_tune(
                expert, steps=steps, held_out=held_out, frozen=frozen,
                checkpoint_every=checkpoint_every,
            )  # fmt: skip
        console.print(
            f"queued run {run['id']} ({run['name']}); follow it with: "
            f"azuraforge runs follow {run['id']}",
            highlight=False,
        )


def _line(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
