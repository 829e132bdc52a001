"""``azuraforge chat``: talk to the assistant in the terminal, answers streamed as they come.

Logged in to a server (``azuraforge login``, ``$AZURAFORGE_TOKEN`` or ``--api-url``), it is
that server's assistant (:mod:`azuraforge.cli.chat_server`): its conversations, memory and
verdicts. Otherwise (or with ``--local``) it is the terminal's own, offline: the backend of
``--backend``, the experts' adapters of the experts folder, and a project folder of the
AzuraForge home keeping its memory, turns and feedback.

Slash commands: ``/help``, ``/clear``, ``/switch <expert|auto>``, ``/memory``,
``/feedback good|bad|correction <text>``, ``/quit`` or ``/exit`` (or Ctrl-D).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

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
from azuraforge.cli.chat_server import ServerConversation
from azuraforge.cli.common import (
    ApiUrl,
    UsageError,
    Verbose,
    arguments,
    console,
    errors,
    logged_in,
    user_errors,
)
from azuraforge.cli.experts import ExpertsFolder, registry_folder, server_version
from azuraforge.cli.plugins import load_plugins
from azuraforge.client import Client
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
    str | None,
    typer.Option(
        "--project",
        envvar="AZURAFORGE_PROJECT",
        help="the project whose memory, turns and feedback these are (each its own folder; "
        "logged in, the server's project, default: your token's)",
    ),
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local",
        help="the terminal's own assistant even when logged in to a server (azuraforge login)",
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


class Conversation(Protocol):
    """What the terminal talks to: the server's assistant (:class:`ServerConversation`) or
    the terminal's own (:class:`LocalConversation`). A method that cannot do what it is
    asked raises an :class:`~azuraforge.errors.AzuraForgeError`, shown as one line."""

    experts: list[str]

    @property
    def title(self) -> str:
        """What the greeting names: the backend and model, or the server and project."""
        ...

    def reply(self, message: str) -> Iterator[str]:
        """The answer's pieces as they are made."""
        ...

    def routed(self) -> str | None:
        """How the last answer was routed (``None``: no answer yet)."""
        ...

    def clear(self) -> None:
        """Forget the conversation so far (memories stay)."""
        ...

    def switch(self, choice: str | None) -> str:
        """Answer with ``choice`` (``None``: the router's choice); what answers now."""
        ...

    def memory(self) -> str:
        """What the long-term memory holds, to show."""
        ...

    def feedback(self, verdict: str, correction: str) -> str:
        """Keep the verdict on the last answer; what was done, to show."""
        ...

    def close(self) -> None:
        """Release what it holds."""
        ...


class LocalConversation:
    """The terminal's own assistant, its verdicts appended to the file ``feedback``."""

    def __init__(self, assistant: Assistant, feedback: Path, title: str) -> None:
        self.assistant, self.feedback_file, self.title = assistant, feedback, title
        self.experts = list(assistant.experts)

    def reply(self, message: str) -> Iterator[str]:
        """The assistant's answer, its turn logged when it ends."""
        return self.assistant.reply(message)

    def routed(self) -> str | None:
        """The last turn's intent, the router's confidence and the expert, and what was
        degraded (a backend that fell back, a memory that failed)."""
        turn = self.assistant.last
        if turn is None:
            return None
        degraded = "; ".join(turn.degraded)
        return f"({turn.intent} {turn.confidence:.2f} -> {turn.expert})" + (
            f" {degraded}" if degraded else ""
        )

    def clear(self) -> None:
        """Forget the conversation so far (the long-term memory stays)."""
        self.assistant.clear()

    def switch(self, choice: str | None) -> str:
        """Answer with expert ``choice`` (``None``: the router's)."""
        self.assistant.switch(choice)
        return self.assistant.forced or "chosen by the router"

    def memory(self) -> str:
        """The long-term memory's statistics."""
        stats = self.assistant.memory.stats() if self.assistant.memory else None
        return f"memory: {stats}" if stats else "no long-term memory (--no-memory)"

    def feedback(self, verdict: str, correction: str) -> str:
        """Append the verdict on the last turn to the feedback file."""
        if self.assistant.last is None:
            raise UsageError("no answer yet to give feedback on")
        record_feedback(self.feedback_file, self.assistant.last, verdict, correction)
        return f"feedback saved to {self.feedback_file}"

    def close(self) -> None:
        """Nothing to release: the backend ends with the process."""


def chat(
    backend: BackendOption = "llama",
    model: ModelOption = DEFAULT_MODEL,
    url: UrlOption = None,
    user: Annotated[str, typer.Option(help="whose memories to read and write")] = "default",
    project: ProjectOption = None,
    memory: MemoryOption = None,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="no long-term memory")] = False,
    experts: ExpertsFolder = None,
    router: RouterFolder = None,
    expert_map: ExpertMapOption = None,
    api: ApiUrl = None,
    local: LocalOption = False,
    verbose: Verbose = False,
) -> None:
    """Chat with the assistant: logged in to a server, that server's (its memory,
    conversations and verdicts); otherwise the terminal's own (offline; Turkish and English)."""
    with user_errors(verbose):
        if not local and logged_in(api):
            conversation: Conversation = ServerConversation(Client.from_environment(api, project))
        else:
            home = _mkdir(
                project_folder(
                    default_home() / "assist", "default" if project is None else project
                )
            )
            options = _LocalOptions(backend, model, url, user, memory, no_memory)
            with _server_or_none(api, project) as server:
                conversation = _local(options, home, experts, router, expert_map, server=server)
        console.print(
            f"[bold]AzuraForge assistant[/bold] ({escape(conversation.title)}); /help for commands"
        )
        try:
            _loop(conversation)
        finally:
            conversation.close()


@dataclass(frozen=True)
class _LocalOptions:
    """The options of ``azuraforge chat`` that make the terminal's own assistant."""

    backend: str
    model: str
    url: str | None
    user: str
    memory: Path | None
    no_memory: bool


def _local(
    options: _LocalOptions, home: Path, experts: Path | None, router: Path | None,
    expert_map: Path | None, *, server: Client | None = None,
) -> LocalConversation:  # fmt: skip
    """The terminal's own assistant, keeping its turns and feedback in ``home``; logged in
    (``server``), an expert's adapter the experts folder lacks is the server's version."""
    offline()
    load_plugins()  # the plugin folder's backends, before --backend is looked up
    mapping = existing(expert_map) if expert_map else None
    generator = _backend(options.backend, options.model, options.url, home)
    routing = router_from(router)
    answering = _experts(routing, mapping or (router / EXPERT_MAP if router else None))
    store = None if options.no_memory else _memory(options.memory or home / "memory.db", routing)
    registry = AdapterRegistry(registry_folder(experts))
    takes_adapters = generator.capabilities.adapters  # openai's are the server's models
    if takes_adapters and server is not None:
        _fetch_missing(registry, answering, server)
    assistant = Assistant(
        routing,
        generator,
        memory=store,
        fallback=EchoBackend() if options.backend != "echo" else None,
        adapters=AdapterPool(generator, registry) if takes_adapters else None,
        experts=answering,
        user=options.user,
        turn_log=home / "turns.jsonl",
    )
    return LocalConversation(
        assistant, home / "feedback.jsonl", f"{generator.name}, {options.model}"
    )


def _fetch_missing(registry: AdapterRegistry, experts: tuple[Expert, ...], server: Client) -> None:
    """Fetch into ``registry`` the server's version (its champion's) of each expert adapter
    it lacks, as the server's chat answers with it. An expert the server has no model of
    answers through the base model, as before; a server that cannot be reached is said in
    one line, and the chat goes on with the folder's adapters."""
    wanted = [e.adapter for e in experts if e.adapter and not registry.versions(e.adapter)]
    for adapter in wanted:
        try:
            server_version(registry, server, adapter)
        except UsageError:
            continue  # no expert model of that name there
        except AzuraForgeError as e:
            errors.print(f"[yellow]not fetched from the server:[/yellow] {escape(str(e))}")
            return


@contextmanager
def _server_or_none(api: str | None, project: str | None) -> Iterator[Client | None]:
    """A client of the server logged in to (closed after the block), ``None`` if not."""
    if not logged_in(api):
        yield None
        return
    with Client.from_environment(api, project) as client:
        yield client


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


def _loop(conversation: Conversation) -> None:
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            console.print()
            return
        if not line:
            continue
        if line.startswith("/"):
            if not _command(conversation, line):
                return
            continue
        try:
            sys.stdout.write("ai> ")
            for piece in conversation.reply(line):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            routed = conversation.routed()
            if routed is not None:
                console.print(f"[dim]{escape(routed)}[/dim]")
        except AzuraForgeError as e:
            sys.stdout.write("\n")
            errors.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)


def _command(conversation: Conversation, line: str) -> bool:
    """Run a slash command; False means leave."""
    name, _, rest = line.partition(" ")
    try:
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            console.print(HELP.format(experts=", ".join(conversation.experts)), highlight=False)
        elif name == "/clear":
            conversation.clear()
            console.print("conversation cleared")
        elif name == "/switch":
            choice = rest.strip()
            answering = conversation.switch(None if choice in ("", "auto") else choice)
            console.print(f"expert: {answering}")
        elif name == "/memory":
            console.print(conversation.memory(), highlight=False, markup=False)
        elif name == "/feedback":
            verdict, _, correction = rest.strip().partition(" ")
            console.print(conversation.feedback(verdict, correction), markup=False)
        else:
            raise UsageError(f"unknown command {name!r}; /help lists them")
    except AzuraForgeError as e:
        errors.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
    return True
