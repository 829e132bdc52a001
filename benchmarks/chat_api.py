"""The assistant through the platform against the same model in the process: what the API
costs a chat answer's first token and its tokens per second, and a cached answer's latency.

SmolLM2-135M-Instruct (the packaged GGUF, llama.cpp, on the threads a served model computes
on: one less than the CPUs, at least one), greedy (temperature 0), :data:`MAX_TOKENS` new
tokens, the same :data:`PROMPTS` each round, the ways taking turns:

- **in the process**: ``LlamaCppBackend.stream`` on those threads with the Python expert's
  system prompt, as ``azuraforge chat`` calls it; and again on every CPU (``azuraforge
  chat``'s own default), which the served model leaves one core of to the server;
- **/api/v1/chat**: ``azuraforge serve --workers 0`` with that model as its one backend
  (``assist_backends``), the message sent as a user would, its server-sent events read by
  ``Client.chat.ask`` (the route routes the message, picks the expert and the backend, keeps
  the turn);
- **/v1/chat/completions**: the same server through OpenAI's own client, streamed;
- **/v1/chat/completions, plain HTTP**: the same endpoint's server-sent events read with
  httpx, as ``Client.chat.ask`` reads /api/v1/chat's: the endpoint's own cost, without the
  work OpenAI's client does per chunk (which shares the machine's cores with the model).

First token: from the call (the request sent) to the first piece of text. Tokens per second:
the pieces after the first (llama.cpp streams a token a piece; the API forwards each as it
comes) over the time after the first piece. The API's runs ask with ``temperature`` 0.01,
at temperature 0 of a server whose cache is off (``assist_cache_ttl=0``), so every answer
is generated; a last phase, on a server with the cache on, asks each prompt twice and times
the second, cached, answer. A warm-up round first (each server loads the model on its first
chat). Correctness first (exit 1): each prompt's answers begin alike every round and every
way (:data:`SAME_START` characters; llama.cpp's reuse of a cached prompt prefix changes its
sums, and on a near tie a greedy answer, further on: docs/assist.md), and the cached answer
is the answer kept.

Usage::

    .venv/bin/python benchmarks/chat_api.py [--quick] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azuraforge.platform.services.chat import served_threads
from harness import (
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    free_port,
    parse_report_args,
    percentiles_ms,
    publish,
    signed_headers,
    started,
)

START, END = "<!-- chat_api:start -->", "<!-- chat_api:end -->"
SIZES = {"quick": {"rounds": 2}, "full": {"rounds": 10}}
MAX_TOKENS = 48
PROMPTS = [
    "Write a Python function that adds two numbers.",
    "Write a Python function that reverses a string.",
    "What is a list comprehension in Python?",
]
SAME_START = 40
"""Characters every answer to a prompt shares, whichever way and round."""
Timing = tuple[str, float, float | None]
"""An answer, its first token's milliseconds, and its tokens per second after the first."""


def timed(pieces: Iterator[str], asked: float) -> Timing:
    """The answer streamed by ``pieces``, timed from ``asked`` (``time.perf_counter``)."""
    first_at, text = None, []
    for piece in pieces:
        if first_at is None:
            first_at = time.perf_counter()
        text.append(piece)
    done = time.perf_counter()
    assert first_at is not None, "no answer"
    rate = (len(text) - 1) / (done - first_at) if len(text) > 1 and done > first_at else None
    return "".join(text), (first_at - asked) * 1e3, rate


def in_process(threads: int | None) -> Callable[[str], Timing]:
    """Answers of the model in this process on ``threads`` (None: every CPU)."""
    from azuraforge.assist.backends.base import GenerationSettings, Message
    from azuraforge.assist.backends.llama import LlamaCppBackend
    from azuraforge.assist.orchestrator import EXPERTS

    backend = LlamaCppBackend(threads=threads)
    system = next(e for e in EXPERTS if e.name == "python").system_prompt
    settings = GenerationSettings(max_tokens=MAX_TOKENS, temperature=0.0)

    def ask(prompt: str) -> Timing:
        messages = [Message("system", system), Message("user", prompt)]
        asked = time.perf_counter()
        return timed(backend.stream(messages, settings), asked)

    return ask


def through_chat(url: str, headers: dict[str, str]) -> Callable[..., Timing]:
    """Answers through ``/api/v1/chat``, read with the project's own client."""
    from azuraforge.client import Client

    chat = Client(url, token=headers["Authorization"].removeprefix("Bearer "), timeout=120).chat

    def ask(prompt: str) -> Timing:
        asked = time.perf_counter()
        events = chat.ask(prompt, model="python", max_tokens=MAX_TOKENS, temperature=0.0)
        return timed((data["text"] for kind, data in events if kind == "piece"), asked)

    return ask


def through_openai(url: str, token: str) -> Callable[[str], Timing]:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=token)

    def ask(prompt: str) -> Timing:
        asked = time.perf_counter()
        stream = client.chat.completions.create(
            model="python", messages=[{"role": "user", "content": prompt}], stream=True,
            max_tokens=MAX_TOKENS, temperature=0.0,
        )  # fmt: skip
        pieces = (c.choices[0].delta.content for c in stream if c.choices)
        return timed((p for p in pieces if p), asked)

    return ask


def through_openai_http(url: str, token: str) -> Callable[[str], Timing]:
    """Answers through ``/v1/chat/completions``, its events read over plain HTTP."""
    import httpx

    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=120)  # fmt: skip

    def pieces(prompt: str) -> Iterator[str]:
        body = {"model": "python", "messages": [{"role": "user", "content": prompt}],
                "stream": True, "max_tokens": MAX_TOKENS, "temperature": 0.0}  # fmt: skip
        with client.stream("POST", "/v1/chat/completions", json=body) as answer:
            for line in answer.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                for choice in json.loads(line[6:])["choices"]:
                    if choice["delta"].get("content"):
                        yield choice["delta"]["content"]

    def ask(prompt: str) -> Timing:
        asked = time.perf_counter()
        return timed(pieces(prompt), asked)

    return ask


@contextmanager
def served(folder: Path, *, cache: bool) -> Iterator[tuple[str, dict[str, str]]]:
    """``azuraforge serve --workers 0`` with the model as its one backend, the response cache
    on or off, on a new store in ``folder``: its address and a token's header."""
    folder.mkdir(parents=True)
    port = free_port()
    backends = json.dumps([{"name": "local", "kind": "llama"}])
    env = {**os.environ, "AZURAFORGE_HOME": str(folder / "home"),
           "AZURAFORGE_DATABASE_URL": f"sqlite:///{folder / 'azuraforge.db'}",
           "AZURAFORGE_ASSIST_BACKENDS": backends,
           "AZURAFORGE_ASSIST_CACHE_TTL": "86400" if cache else "0"}  # fmt: skip
    cmd = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
           "--port", str(port), "--workers", "0"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with started("azuraforge serve", cmd, env, f"{url}/api/v1/health", folder / "server.log"):
        yield url, signed_headers(env["AZURAFORGE_DATABASE_URL"])


def measure(size: dict[str, Any]) -> dict[str, Any]:
    local = {"in the process": in_process(served_threads()),
             "in the process, every CPU": in_process(None)}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        with served(Path(folder) / "generated", cache=False) as (url, headers):
            found = _rounds(local, url, headers, size["rounds"])
        with served(Path(folder) / "cached", cache=True) as (url, headers):
            cached = _cached(through_chat(url, headers))
    _check_same_answers(found)
    return {"ways": {name: _summary(timings) for name, timings in found.items()},
            "cached": cached, "threads": served_threads()}  # fmt: skip


def _rounds(
    local: dict[str, Callable[[str], Timing]], url: str, headers: dict[str, str], rounds: int
) -> dict[str, list[Timing]]:
    """Each prompt answered each way, ``rounds`` times, the ways taking turns."""
    ways = {
        **local,
        "/api/v1/chat": through_chat(url, headers),
        "/v1/chat/completions": through_openai(url, headers["Authorization"][7:]),
        "/v1/chat/completions, plain HTTP": through_openai_http(url, headers["Authorization"][7:]),
    }
    for ask in ways.values():  # warm-up: the server loads the model on its first chat
        ask(PROMPTS[0])
    found: dict[str, list[Timing]] = {name: [] for name in ways}
    for round_ in range(rounds):
        turn = round_ % len(ways)
        for name in list(ways)[turn:] + list(ways)[:turn]:
            found[name] += [ways[name](prompt) for prompt in PROMPTS]
    return found


def _cached(ask: Callable[..., Timing]) -> dict[str, Any]:
    """Each prompt asked twice at temperature 0: the second answer comes from the cache."""
    ask("Hello!")  # warm-up: the server loads the model on its first chat
    made, hit = [], []
    for prompt in PROMPTS:
        first = ask(prompt)
        again = ask(prompt)
        if again[0] != first[0]:
            sys.exit(f"the cached answer to {prompt!r} is not the answer it kept")
        made.append(first[1])
        hit.append(again[1])
    return {"made_ms": statistics.median(made), "hit_ms": statistics.median(hit)}


def _check_same_answers(found: dict[str, list[Timing]]) -> None:
    for i, prompt in enumerate(PROMPTS):
        starts = {
            t[0][:SAME_START] for timings in found.values() for t in timings[i :: len(PROMPTS)]
        }
        if len(starts) != 1:
            sys.exit(f"{prompt!r}'s answers began {len(starts)} ways: {sorted(starts)}")


def _summary(timings: list[Timing]) -> dict[str, Any]:
    firsts = [t[1] for t in timings]
    rates = [t[2] for t in timings if t[2] is not None]
    return {"answers": len(timings), **percentiles_ms(firsts, 50, 95),
            "tokens_per_s": statistics.median(rates)}  # fmt: skip


def section(report: dict[str, Any]) -> str:
    ways, cached = report["results"]["ways"], report["results"]["cached"]
    base = ways["in the process"]
    lines = [
        START, "## The assistant through the API: first token and tokens/s", "",
        f"Generated by `{report['command']}`. SmolLM2-135M-Instruct (llama.cpp on "
        f"{report['results']['threads']} thread(s), as a served model computes on this "
        "machine; in the process on every CPU too), greedy, "
        f"{MAX_TOKENS} new tokens, {len(PROMPTS)} prompts x {report['size']['rounds']} rounds "
        "each way, the ways taking turns (`benchmarks/chat_api.py` says how it is timed).", "",
        "| way | answers | first token p50 ms | p95 ms | tokens/s (median) | / in the process |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    for name, found in ways.items():
        ratio = found["tokens_per_s"] / base["tokens_per_s"]
        lines.append(
            f"| {name} | {found['answers']} | {found['p50_ms']:.1f} | {found['p95_ms']:.1f} | "
            f"{found['tokens_per_s']:.1f} | {ratio:.2f} |"
        )
    api, compatible = ways["/api/v1/chat"], ways["/v1/chat/completions, plain HTTP"]
    cost = {
        name: 1 - found["tokens_per_s"] / base["tokens_per_s"]
        for name, found in (("/api/v1/chat", api), ("/v1/chat/completions", compatible))
    }
    lines += [
        "",
        "Bars: the API costs at most 10 % of the in-process tokens/s ("
        + "; ".join(f"{name}: {c:.1%}, {'met' if c <= 0.10 else '**not met**'}"
                    for name, c in cost.items())
        + "; OpenAI's client reads the same endpoint "
        f"{1 - ways['/v1/chat/completions']['tokens_per_s'] / base['tokens_per_s']:.1%} slower "
        "than the model streams, its own work per chunk sharing the cores); first token p95 at "
        f"most 150 ms ({api['p95_ms']:.1f} and {compatible['p95_ms']:.1f} ms, "
        f"{'met' if max(api['p95_ms'], compatible['p95_ms']) <= 150 else '**not met**'}). "
        f"A cached answer (temperature 0, the same request again): {cached['hit_ms']:.1f} ms "
        f"to its text, against {cached['made_ms']:.1f} ms to the first token of the answer "
        "it kept.", "",
        environment_block(report["environment"]), END,
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_report_args(__doc__.splitlines()[0], argv, "chat_api")
    exit_on_sigterm()
    size = SIZES["quick" if args.quick else "full"]
    load, ticks = os.getloadavg(), cpu_ticks()
    results = measure(size)
    packages = ["llama-cpp-python", "httpx", "openai"]
    publish("chat_api", args, section, (START, END), size=size, results=results,
            environment=environment(load, ticks, None, packages))  # fmt: skip


if __name__ == "__main__":
    main()
