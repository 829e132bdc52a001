"""``azuraforge assist train-expert | eval-expert | experts``: the assistant's LoRA experts.

Each expert is trained on the base model that serves it and kept as numbered versions under
``AZURAFORGE_HOME/assist/experts`` (see :mod:`azuraforge.assist.adapters`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from azuraforge import track
from azuraforge.assist.adapters import AdapterPool, AdapterRegistry, AdapterVersion
from azuraforge.assist.adapters.registry import EXPERT_MODEL, GGUF_FILE
from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.corpora import (
    CodeProblem,
    Instruction,
    as_instruction,
    load_humaneval,
    load_instructions,
    load_mbpp,
    load_turkish_instructions,
    problem_prompt,
    python_expert_split,
    split_held_out,
)
from azuraforge.assist.models import DEFAULT_MODEL
from azuraforge.assist.orchestrator import EXPERTS
from azuraforge.cli.common import (
    ApiUrl,
    ProjectName,
    UsageError,
    Verbose,
    arguments,
    console,
    logged_in,
    platform_installed,
    user_errors,
)
from azuraforge.cli.embedded_registry import register_in_store, store_expert_versions
from azuraforge.client import Client
from azuraforge.errors import AzuraForgeError
from azuraforge.learn.home import default_home

ExpertsFolder = Annotated[
    Path | None,
    typer.Option("--experts", help="adapters folder (default: AZURAFORGE_HOME/assist/experts)"),
]
FromServer = Annotated[
    bool,
    typer.Option(
        "--from-server",
        help="the server's version of the expert (azuraforge login), fetched into the experts "
        "folder once; logged in, an expert the folder lacks is fetched without it",
    ),
]
BUILT_IN = {
    "python": "MBPP's training split and Code Alpaca 2k; held out: MBPP's test split, HumanEval",
    "turkish": "the 574 Turkish instructions; a stable tenth held out",
}


PROBLEM_SETS: dict[str, Callable[[], list[CodeProblem]]] = {
    "mbpp": lambda: load_mbpp("test"),
    "humaneval": load_humaneval,
    "all": lambda: [*load_mbpp("test"), *load_humaneval()],
}
"""The held-out problems ``eval-expert --problems`` names."""


def registry_folder(folder: Path | None) -> Path:
    """The experts' folder: ``folder``, or ``AZURAFORGE_HOME/assist/experts``."""
    return folder or default_home() / "assist" / "experts"


def _data(expert: str, data: Path | None) -> tuple[list[Instruction], list[Instruction]]:
    """The expert's training and held-out examples."""
    if data is not None:
        if not data.is_file():
            raise UsageError(f"no file {str(data)!r}")
        return split_held_out(load_instructions(data), 0.1)
    if expert == "python":
        split = python_expert_split()
        return split.training_examples(), [as_instruction(p) for p in split.held_out]
    if expert == "turkish":
        return split_held_out(load_turkish_instructions(), 0.1)
    raise UsageError(
        f"expert {expert!r} has no built-in data ({', '.join(BUILT_IN)} have); give --data FILE"
    )


RegisterOption = Annotated[
    bool | None,
    typer.Option(
        "--register/--no-register",
        help="also keep it as the next version of the project's model expert-EXPERT, which "
        "the chat follows by its champion alias: on the server when logged in (azuraforge "
        "login, $AZURAFORGE_TOKEN or --api-url), else in this machine's store (default: "
        "yes, where the platform's extra is installed)",
        show_default=False,
    ),
]


def train_expert_command(
    expert: Annotated[str, typer.Argument(help="python, turkish, or a new expert with --data")],
    data: Annotated[
        Path | None,
        typer.Option(help="JSON list or JSON lines of {instruction, input, output}"),
    ] = None,
    base: Annotated[str, typer.Option(help="packaged model name or GGUF file")] = DEFAULT_MODEL,
    steps: Annotated[int, typer.Option(help="optimiser steps")] = 200,
    rank: Annotated[int, typer.Option(help="LoRA rank")] = 8,
    alpha: Annotated[float, typer.Option(help="LoRA alpha (updates scaled by alpha/rank)")] = 16.0,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate")] = 5e-4,
    batch_size: Annotated[int, typer.Option(help="examples per step")] = 4,
    max_tokens: Annotated[int, typer.Option(help="tokens an example is cut to")] = 256,
    held_out_limit: Annotated[int, typer.Option(help="held-out examples scored at most")] = 200,
    threads: Annotated[int | None, typer.Option(help="PyTorch threads")] = None,
    seed: Annotated[int, typer.Option(help="the seed of the adapter and of the batches")] = 0,
    experts: ExpertsFolder = None,
    register: RegisterOption = None,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Train a LoRA expert on its base model and register it as the expert's next version
    (in the experts folder, and in the registry: the server's when logged in, else this
    machine's store; --no-register keeps it in the folder alone)."""
    with user_errors(verbose):
        from azuraforge.assist.adapters.training import LoraSettings, train_expert

        registry = AdapterRegistry(registry_folder(experts))
        registry.versions(expert)  # a bad name fails now, not after the training
        train, held_out = _data(expert, data)
        settings = LoraSettings(
            rank=rank,
            alpha=alpha,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_tokens=max_tokens,
            seed=seed,
        )
        console.print(
            f"training {expert} on {base}: {len(train):,} examples, "
            f"{min(len(held_out), held_out_limit):,} held out, {steps} steps"
        )
        version = train_expert(
            registry,
            expert,
            base,
            train,
            held_out=held_out[:held_out_limit],
            settings=settings,
            system_prompt=_system_prompt(expert),
            cache=default_home() / "assist" / "bases",
            threads=threads,
            progress=_progress_printer(steps),
        )
        _print_training(version.metrics)
        console.print(f"saved {version.name} in {version.folder}")
        _keep_in_registry(version, register, api, project)


def _progress_printer(steps: int) -> Callable[[int, float], None]:
    """A training's progress, printed ten times over its ``steps``."""
    every = max(1, steps // 10)

    def progress(step: int, loss: float) -> None:
        if step % every == 0:
            console.print(f"  step {step}/{steps} loss {loss:.3f}")

    return progress


def _keep_in_registry(
    version: AdapterVersion, register: bool | None, api: str | None, project: str | None
) -> None:
    """Register ``version`` as ``--register``/``--no-register`` (``register``) says: on the
    server when logged in, else in this machine's store (by default where the platform's extra
    is installed)."""
    if logged_in(api) and register is not False:
        _register(version, Client.from_environment(api, project))
    elif register or (register is None and platform_installed()):
        _register(version, None)


def _register(version: AdapterVersion, client: Client | None) -> None:
    """Keep ``version`` in the registry: a run of experiment ``train-expert`` with the adapter
    as its model, registered as the next version of ``expert-<expert>``, on ``client``'s
    server, or without one in this machine's store."""
    model = EXPERT_MODEL.format(version.expert)
    scores = {k: v for k, v in version.metrics.items() if isinstance(v, int | float)}
    url, token, project = (None, None, None) if client is None else (
        client.url, client.session.token, client.session.project,
    )  # fmt: skip
    with track.start_run(
        name=f"{version.expert}-v{version.version}", experiment="train-expert",
        params=version.settings, url=url, token=token, project=project,
    ) as run:  # fmt: skip
        run.log_adapter(
            str(version.folder / GGUF_FILE), expert=version.expert, base_model=version.base,
            metrics=scores,
            config={"settings": version.settings, "data_sha256": version.data_sha256},
        )  # fmt: skip
    where = "this machine's store" if client is None else "the server"
    if run.status != "completed" or run.id is None:
        raise UsageError(f"{where} did not keep the run of {version.name}: see the log above")
    description = f"{version.name} of the experts folder"
    if client is None:
        number = register_in_store(model, run.id, description)
        aliasing = "on a server started on this store (azuraforge serve): "
    else:
        with arguments():
            number = client.models.register(model, run.id, description=description)["version"]
        aliasing = ""
    console.print(
        f"registered {model}/{number} in {where}; the chat answers with it once its champion "
        f"alias names it, {aliasing}azuraforge models alias {model} champion {number}",
        highlight=False,
    )


def server_version(
    registry: AdapterRegistry, client: Client, expert: str, version: int | None = None
) -> AdapterVersion:
    """The experts folder's copy of version ``version`` of the server's ``expert-<expert>``
    (by default the one its champion alias names, else its newest), fetched through the
    client the first time: its files checked against the version's SHA-256 and kept as the
    expert's next folder version, which records where it came from.

    Raises
    ------
    UsageError
        The server has no such model or version.
    AzuraForgeError
        The files fetched are not the version's (their SHA-256 differs).
    """
    from azuraforge.platform.services.registry import folder_digest

    model = EXPERT_MODEL.format(expert)
    with arguments():
        number = version or _default_version(client.models.get(model))
        found = client.models.version(model, number)
    digest = found["artifact_digest"]
    kept = [v for v in registry.versions(expert) if v.origin.get("artifact_digest") == digest]
    if kept:
        return kept[-1]
    with tempfile.TemporaryDirectory() as folder:
        files = client.models.download(model, number, Path(folder) / "files")
        if folder_digest(files) != digest:
            raise AzuraForgeError(
                f"the files of {model}/{number} fetched from {client.url} are not the "
                f"version's (SHA-256 differs from {digest[:12]}...); nothing was kept"
            )
        described = json.loads((files / "artifact.json").read_text(encoding="utf-8"))
        copy = registry.add_copy(
            expert, files, base=described["base_model"],
            origin={"url": client.url, "model": model, "version": number,
                    "artifact_digest": digest},
            data_sha256=found["config"].get("data_sha256", ""),
            settings=found["config"].get("settings", {}), metrics=found["metrics"],
        )  # fmt: skip
    console.print(f"fetched {model}/{number} from {client.url} as {copy.name}", highlight=False)
    return copy


def _default_version(model: dict[str, Any]) -> int:
    """The version the server's chat answers with: its champion's, else the newest."""
    number = model["aliases"].get("champion") or model["latest_version"]
    if number is None:
        raise UsageError(f"{model['name']} has no versions on the server")
    return int(number)


def _system_prompt(expert: str) -> str | None:
    return next((e.system_prompt for e in EXPERTS if e.name == expert), None)


def _print_training(metrics: dict[str, float]) -> None:
    table = Table("held out, answer tokens", "base model", "with the adapter")
    if "perplexity" in metrics:
        m = metrics
        table.add_row("loss", f"{m['base_held_out_loss']:.3f}", f"{m['held_out_loss']:.3f}")
        table.add_row("perplexity", f"{m['base_perplexity']:.2f}", f"{m['perplexity']:.2f}")
        console.print(table)
    console.print(
        f"trained on {metrics['train_examples']:,} examples, scored on "
        f"{metrics['held_out_examples']:,} held out; {metrics['too_long']:,} left out because "
        "their prompt fills --max-tokens"
    )
    console.print(
        f"train loss {metrics['first_train_loss']:.3f} -> {metrics['last_train_loss']:.3f} "
        f"in {metrics['seconds']} s"
    )


def eval_expert_command(
    expert: Annotated[str, typer.Argument(help="the expert whose adapter to evaluate")] = "python",
    version: Annotated[
        int | None,
        typer.Option(
            help="the version (default: the newest; from the server: its number there, "
            "default the one its champion alias names)"
        ),
    ] = None,
    problems: Annotated[str, typer.Option(help="mbpp (its test split), humaneval or all")] = "all",
    limit: Annotated[int | None, typer.Option(help="the first N problems only")] = None,
    max_tokens: Annotated[int, typer.Option(help="tokens an answer may take")] = 384,
    experts: ExpertsFolder = None,
    from_server: FromServer = False,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """pass@1 of an expert beside its base model on held-out Python problems, run sandboxed
    (served by llama.cpp, greedy); the figures are saved with the version. Logged in to a
    server, an expert the experts folder lacks (or any, with --from-server) is the server's
    version, fetched into the folder."""
    with user_errors(verbose):
        from azuraforge.assist.backends.llama import LlamaCppBackend

        if problems not in PROBLEM_SETS:
            raise UsageError(f"--problems must be {', '.join(PROBLEM_SETS)}, got {problems!r}")
        registry = AdapterRegistry(registry_folder(experts))
        wanted = _version_to_use(registry, expert, version, from_server, (api, project))
        chosen = PROBLEM_SETS[problems]()[:limit]
        backend = LlamaCppBackend(wanted.base, cache_prompts=False)
        adapter = AdapterPool(backend, registry).ensure(expert, wanted.version)
        settings = GenerationSettings(max_tokens=max_tokens, temperature=0.0, seed=0)
        system = _system_prompt(expert) or ""

        def answer(name: str | None) -> Callable[[CodeProblem], str]:
            def complete(problem: CodeProblem) -> str:
                chat = [Message("system", system), Message("user", problem_prompt(problem))]
                return backend.generate(chat, settings, adapter=name)

            return complete

        answering = {"base": answer(None), wanted.name: answer(adapter)}
        results = _pass_rates(chosen, answering)
        key = f"pass_at_1_{problems}" + (f"_first_{limit}" if limit else "")
        figures = {
            "problems": len(chosen),
            "base": results["base"],
            "adapter": results[wanted.name],
        }
        registry.add_metrics(expert, wanted.version, {key: figures})
        console.print(f"{len(chosen)} problems; saved as {key!r} in {wanted.folder}")


def _pass_rates(
    problems: list[CodeProblem], answering: dict[str, Callable[[CodeProblem], str]]
) -> dict[str, float]:
    """pass@1 of each of ``answering`` (a label: how it answers a problem) on ``problems``,
    rounded to 4 places, printed as a table as each is measured."""
    from azuraforge.assist.evaluation import pass_at_1

    table = Table("model", "pass@1", "passed", "failed", "timeout", "error", "seconds")
    results = {}
    for label, complete in answering.items():
        started = time.perf_counter()
        report = pass_at_1(problems, _with_progress(complete, label, len(problems)))
        counts = report.counts
        results[label] = round(report.pass_at_1, 4)
        table.add_row(
            label,
            f"{report.pass_at_1:.1%}",
            str(counts["passed"]),
            str(counts["failed"]),
            str(counts["timeout"]),
            str(counts["error"] + counts["memory"]),
            f"{time.perf_counter() - started:.0f}",
        )
    console.print(table)
    return results


def _version_to_use(
    registry: AdapterRegistry, expert: str, version: int | None, from_server: bool,
    server: tuple[str | None, str | None],
) -> AdapterVersion:  # fmt: skip
    """The folder's version ``version`` of ``expert``; the server's (``server``: its API
    option and project), fetched, with ``from_server`` or logged in when the folder has none
    of the expert."""
    api, project = server
    if from_server or (logged_in(api) and not registry.versions(expert)):
        with Client.from_environment(api, project) as client:
            return server_version(registry, client, expert, version)
    return registry.get(expert, version)


def _with_progress(
    complete: Callable[[CodeProblem], str], label: str, total: int
) -> Callable[[CodeProblem], str]:
    """``complete``, printing a line each time another tenth of ``total`` is answered."""
    every, started, answered = max(1, total // 10), time.perf_counter(), 0

    def counted(problem: CodeProblem) -> str:
        nonlocal answered
        text = complete(problem)
        answered += 1
        if answered % every == 0 or answered == total:
            seconds = time.perf_counter() - started
            console.print(f"  {label}: {answered}/{total} answered ({seconds:.0f} s)")
        return text

    return counted


def experts_command(
    experts: ExpertsFolder = None,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Every trained expert version, with its base, data and figures: the experts folder's,
    and the versions of the registry's expert models (which its chat serves): the server's
    when logged in, else this machine's store's."""
    with user_errors(verbose):
        if logged_in(api):
            with Client.from_environment(api, project) as client:
                versions = [
                    {**v, "name": f"{m['name']}/{v['version']}"}
                    for m in client.models.each() if m["name"].startswith(EXPERT_MODEL.format(""))
                    for v in client.models.versions(m["name"], limit=500).data
                ]  # fmt: skip
                _print_registry_experts(client.url, "server", versions)
        elif platform_installed():
            where, versions = store_expert_versions()
            _print_registry_experts(where, "store", versions)
        registry = AdapterRegistry(registry_folder(experts))
        table = Table("adapter", "base", "created", "examples", "perplexity", "pass@1")
        for expert in registry.experts():
            for v in registry.versions(expert):
                table.add_row(v.name, v.base, _when(v.created), *_figures(v.metrics))
        if not table.rows:
            console.print(
                f"no experts in {registry.root}; "
                "train one with: azuraforge assist train-expert python"
            )
            return
        console.print(table)


def _print_registry_experts(where: str, place: str, versions: list[dict[str, Any]]) -> None:
    """The versions of the expert models (``expert-<name>``) of the registry at ``where``
    (a server or a store, as ``place`` says), the aliases on each."""
    table = Table(
        f"in the {place}", "aliases", "created", "examples", "perplexity", "pass@1",
        title=f"{where}: the chat answers with each expert's champion",
    )  # fmt: skip
    for v in versions:
        aliases = ", ".join(v["aliases"]) or "-"
        table.add_row(v["name"], aliases, _when(v["created_at"]), *_figures(v["metrics"]))
    if table.rows:
        console.print(table)
    elif place == "server":
        console.print(
            f"no expert models on {where}; keep one there with: "
            "azuraforge assist train-expert python (logged in, it registers there)"
        )


def _when(created: float) -> str:
    return datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M")


def _figures(metrics: dict[str, Any]) -> tuple[str, str, str]:
    """An expert version's training examples, perplexity (base -> adapter) and pass@1s."""
    ppl = "-"
    if "perplexity" in metrics:
        ppl = f"{metrics['base_perplexity']:.2f} -> {metrics['perplexity']:.2f}"
    passes = [
        f"{value['base']:.1%} -> {value['adapter']:.1%} ({value['problems']})"
        for key, value in metrics.items()
        if key.startswith("pass_at_1")
    ]
    examples = metrics.get("train_examples", "-")  # a registry's metrics are floats
    return f"{examples:,.0f}" if examples != "-" else "-", ppl, "; ".join(passes) or "-"
