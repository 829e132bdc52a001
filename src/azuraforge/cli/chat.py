"""``azuraforge chat``: talk to the assistant in the terminal, answers streamed as they come.

Slash commands: ``/help``, ``/clear``, ``/switch <expert|auto>``, ``/memory``,
``/feedback good|bad|correction <text>``, ``/quit`` or ``/exit`` (or Ctrl-D).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from azuraforge.assist import IntentRouter
from azuraforge.assist.adapters import AdapterPool, AdapterRegistry
from azuraforge.assist.backends import Backend, BackendSpec, EchoBackend
from azuraforge.assist.backends.registry import backend_kinds, build
from azuraforge.assist.embeddings import memory_embedder
from azuraforge.assist.memory import SqliteVecMemory
from azuraforge.assist.models import DEFAULT_MODEL, offline
from azuraforge.assist.orchestrator import (
    EXPERT_MAP,
    EXPERTS,
    Assistant,
    Expert,
    read_expert_map,
    record_feedback,
)
from azuraforge.cli.assist import RouterFolder, existing, router_from
from azuraforge.cli.common import UsageError, Verbose, arguments, console, errors, user_errors
from azuraforge.cli.experts import ExpertsFolder, registry_folder
from azuraforge.cli.plugins import load_plugins
from azuraforge.errors import AzuraForgeError
from azuraforge.learn.home import default_home

HELP = """commands:
  /help                         this text
  /clear                        forget the conversation so far (memories stay)
  /switch <expert|auto>         answer with one expert ({experts}) or let the router choose
  /memory                       what the long-term memory holds
  /feedback good|bad            judge the last answer
  /feedback correction <text>   give the answer it should have been
  /quit, /exit                  leave (or Ctrl-D)"""


PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""What a project's name may be (the platform's rule; the chat works without the platform)."""


def _backend(name: str, model: str, url: str | None, home: Path) -> Backend:
    """The backend of kind ``name`` (a built-in, or one an installed package or a file of the
    plugin folder declares in azuraforge.backends), built from the options; transformers
    keeps its dequantised bases in ``home/bases``."""
    if name == "openai" and not url:
        raise UsageError("--backend openai needs --url (e.g. http://127.0.0.1:11434/v1)")
    kinds = backend_kinds()
    if name not in kinds:
        raise UsageError(f"--backend must be one of {', '.join(kinds)}, got {name!r}")
    with arguments():
        return build(BackendSpec(name, name, model=model, url=url or "", cache=home / "bases"))


BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="llama or transformers (in process), openai (a server), echo, or a plugin's "
        "(entry-point group azuraforge.backends, the plugin folder's files included)",
    ),
]
ModelOption = Annotated[
    str, typer.Option("--model", help="packaged model name, GGUF file or served name")
]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="the OpenAI-compatible server, for --backend openai")
]
ProjectOption = Annotated[
    str,
    typer.Option(
        "--project",
        envvar="AZURAFORGE_PROJECT",
        help="the project whose memory, turns and feedback these are (each its own folder)",
    ),
]
MemoryOption = Annotated[
    Path | None,
    typer.Option("--memory", help="memory file (default: the project's folder's memory.db)"),
]
ExpertMapOption = Annotated[
    Path | None,
    typer.Option(
        "--expert-map",
        help=f"JSON of intent to expert (default: {EXPERT_MAP} in --router, if any)",
    ),
]


def chat(
    backend: BackendOption = "llama",
    model: ModelOption = DEFAULT_MODEL,
    url: UrlOption = None,
    user: Annotated[str, typer.Option(help="whose memories to read and write")] = "default",
    project: ProjectOption = "default",
    memory: MemoryOption = None,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="no long-term memory")] = False,
    experts: ExpertsFolder = None,
    router: RouterFolder = None,
    expert_map: ExpertMapOption = None,
    verbose: Verbose = False,
) -> None:
    """Chat with the assistant (offline; Turkish and English)."""
    with user_errors(verbose):
        offline()
        load_plugins()  # the plugin folder's backends, before --backend is looked up
        home = _mkdir(project_folder(default_home() / "assist", project))
        mapping = existing(expert_map) if expert_map else None
        generator = _backend(backend, model, url, home)
        routing = router_from(router)
        answering = _experts(routing, mapping or (router / EXPERT_MAP if router else None))
        store = None if no_memory else _memory(memory or _mkdir(home) / "memory.db", routing)
        assistant = Assistant(
            routing,
            generator,
            memory=store,
            fallback=EchoBackend() if backend != "echo" else None,
            adapters=None
            if not generator.capabilities.adapters  # openai's are the server's models
            else AdapterPool(generator, AdapterRegistry(registry_folder(experts))),
            experts=answering,
            user=user,
            turn_log=home / "turns.jsonl",
        )
        console.print(
            f"[bold]AzuraForge assistant[/bold] ({generator.name}, {model}); /help for commands"
        )
        _loop(assistant, home / "feedback.jsonl")


def _memory(path: Path, routing: IntentRouter) -> SqliteVecMemory:
    """The long-term memory in the file ``path``, embedded as ``routing`` embeds."""
    return SqliteVecMemory(path, memory_embedder(routing.embedder))


def project_folder(assist: Path, project: str) -> Path:
    """Where the assistant keeps ``project``'s memory, turns and feedback: ``assist`` itself
    for the default project, ``assist/projects/<name>`` for another.

    Raises
    ------
    UsageError
        For a name that is not a project's (it could name a folder elsewhere).
    """
    if not PROJECT_NAME.fullmatch(project):
        raise UsageError(
            f"--project must be a project's name (letters, digits, '_', '.', '-', not first; "
            f"at most 100), got {project!r}"
        )
    return assist if project == "default" else assist / "projects" / project


def _experts(router: IntentRouter, mapping: Path | None) -> tuple[Expert, ...]:
    """The experts, with the router's intents mapped by ``mapping`` when it is a file."""
    if mapping is None or not mapping.is_file():
        return EXPERTS
    return read_expert_map(mapping, router.labels)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _loop(assistant: Assistant, feedback: Path) -> None:
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            console.print()
            return
        if not line:
            continue
        if line.startswith("/"):
            if not _command(assistant, line, feedback):
                return
            continue
        try:
            sys.stdout.write("ai> ")
            for piece in assistant.reply(line):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            turn = assistant.last
            if turn is not None:
                degraded = "; ".join(turn.degraded)
                console.print(
                    f"[dim]({turn.intent} {turn.confidence:.2f} -> {turn.expert})"
                    + (f" {escape(degraded)}" if degraded else "")
                    + "[/dim]"
                )
        except AzuraForgeError as e:
            sys.stdout.write("\n")
            errors.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)


def _command(assistant: Assistant, line: str, feedback: Path) -> bool:
    """Run a slash command; False means leave."""
    name, _, rest = line.partition(" ")
    try:
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            console.print(HELP.format(experts=", ".join(assistant.experts)), highlight=False)
        elif name == "/clear":
            assistant.clear()
            console.print("conversation cleared")
        elif name == "/switch":
            choice = rest.strip()
            assistant.switch(None if choice in ("", "auto") else choice)
            console.print(f"expert: {assistant.forced or 'chosen by the router'}")
        elif name == "/memory":
            stats = assistant.memory.stats() if assistant.memory else None
            console.print(f"memory: {stats}" if stats else "no long-term memory (--no-memory)")
        elif name == "/feedback":
            verdict, _, correction = rest.strip().partition(" ")
            if assistant.last is None:
                raise UsageError("no answer yet to give feedback on")
            record_feedback(feedback, assistant.last, verdict, correction)
            console.print(f"feedback saved to {feedback}")
        else:
            raise UsageError(f"unknown command {name!r}; /help lists them")
    except AzuraForgeError as e:
        errors.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
    return True
