"""The clients of ``benchmarks/replicas.py``: jobs submitted through the balancer (each made
exactly once whatever answer came back), uploads, predictions, WebSocket followers that
resume where they were, and the record of every answer the balancer gave.

A submission whose answer did not come (the balancer answered 502: the replica it had
reached died) may or may not have made its job. Each job is named by the client (a run's
``name``, a study's ``name``, a prediction job's inputs file), so the client asks the store
which it is before it sends the request again: a job is never made twice by the client's
retry, and one made by a request whose answer was lost is found."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from sqlalchemy import text

from azuraforge.platform.store import Store

API = "/api/v1"
RUN_CONFIG = {"steps": 2, "sleep": 0.05}
"""A sleeper run: two steps of 50 ms (a status, two progress reports and an end)."""


@dataclass(frozen=True)
class Answer:
    """One request's answer: when it was sent and answered (monotonic seconds), its status
    (0: no answer, the connection failed) and what it was."""

    start: float
    end: float
    status: int
    what: str


class Api:
    """Requests to one address (the balancer, or a replica directly), each answer recorded
    in ``answers``."""

    def __init__(self, base: str, headers: dict[str, str], trust: ssl.SSLContext | bool) -> None:
        self.client = httpx.AsyncClient(
            base_url=base + API, headers=headers, verify=trust, timeout=120
        )
        self.answers: list[Answer] = []

    async def ask(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response | None:
        """The answer to the request, ``None`` when none came (each recorded)."""
        start = time.monotonic()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TransportError:
            self.answers.append(Answer(start, time.monotonic(), 0, what))
            return None
        self.answers.append(Answer(start, time.monotonic(), response.status_code, what))
        return response

    async def close(self) -> None:
        await self.client.aclose()


Lookup = Callable[[], int | None]


async def made_once(
    api: Api,
    method: str,
    path: str,
    body: dict[str, Any],
    expected: int,
    lookup: Lookup,
    what: str,
) -> tuple[int, int]:
    """Send the request until it is answered ``expected`` (its job's id) or ``lookup`` finds
    its job in the store after an answer that did not say (5xx, none, or 409 for a name
    taken: by the request whose answer was lost); the job's id and the retries it took.

    Raises
    ------
    SystemExit
        On any other answer (a 4xx says the request is wrong, and retrying will not help).
    """
    retries = 0
    while True:
        answer = await api.ask(method, path, what, json=body)
        if answer is not None and answer.status_code == expected:
            made = answer.json()
            return int(made["data"][0]["id"] if "data" in made else made["id"]), retries
        if answer is not None and answer.status_code < 500 and answer.status_code != 409:
            raise SystemExit(f"{what}: {answer.status_code} {answer.text[:300]}")
        found = await asyncio.to_thread(lookup)
        if found is not None:
            return found, retries
        retries += 1
        await asyncio.sleep(0.1)


def run_named(store: Store, name: str) -> Lookup:
    return lambda: _one(store, "SELECT id FROM experiments WHERE name = :v", name)


def study_named(store: Store, name: str) -> Lookup:
    return lambda: _one(store, "SELECT id FROM tuning_studies WHERE name = :v", name)


def prediction_of(store: Store, inputs: str) -> Lookup:
    query = (
        "SELECT id FROM experiments WHERE kind = 'prediction' "
        "AND CAST(config AS jsonb) ->> 'source' = :v"
    )
    return lambda: _one(store, query, inputs)


def _one(store: Store, query: str, value: str) -> int | None:
    with store.engine.connect() as connection:
        found = connection.execute(text(query), {"v": value}).scalars().all()
    if len(found) > 1:
        raise SystemExit(f"{len(found)} jobs are named {value!r}: one was made twice")
    return int(found[0]) if found else None


async def upload(api: Api, name: str, body: bytes) -> int:
    """PUT ``body`` as data file ``name`` (replacing it: a retry after a lost answer may
    find it made) until it is answered 201; the retries it took."""
    retries = 0
    while True:
        answer = await api.ask(
            "PUT",
            f"/data/{name}",
            "upload",
            content=body,
            params={"overwrite": "true"},
            headers={"Content-Type": "text/csv"},
        )
        if answer is not None and answer.status_code == 201:
            return retries
        if answer is not None and answer.status_code < 500:
            raise SystemExit(f"upload {name}: {answer.status_code} {answer.text[:300]}")
        retries += 1
        await asyncio.sleep(0.1)


@dataclass
class Follower:
    """A client of ``WS /api/v1/events`` through the balancer that resumes after the last
    event id it got: the ids it got in order, the resets it was sent, how long each
    reconnection took (seconds, from losing the socket to the next one open)."""

    ids: list[int] = field(default_factory=list)
    resets: int = 0
    reconnects: list[float] = field(default_factory=list)

    @property
    def after(self) -> int:
        return self.ids[-1] if self.ids else 0


async def follow(
    url: str, headers: dict[str, str], trust: ssl.SSLContext, follower: Follower
) -> None:
    """Follow the project's events from the first (``after=0``) until cancelled, each
    reconnection (its socket lost: its replica died) resuming after the last id got."""
    lost_at: float | None = None
    while True:
        try:
            async with websockets.connect(
                f"{url}?after={follower.after}",
                ssl=trust,
                additional_headers=headers,
                open_timeout=10,
                max_size=None,
            ) as socket:
                if lost_at is not None:
                    follower.reconnects.append(time.monotonic() - lost_at)
                    lost_at = None
                async for message in socket:
                    _got(follower, json.loads(message))
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            pass
        lost_at = lost_at or time.monotonic()
        await asyncio.sleep(0.05)


def _got(follower: Follower, message: dict[str, Any]) -> None:
    if message["type"] == "reset":
        follower.resets += 1
    elif "id" in message:
        follower.ids.append(int(message["id"]))


def follower_faults(followers: list[Follower], expected: list[int]) -> dict[str, int]:
    """How many followers saw a gap (an event of ``expected`` they never got, though they
    got a later one), a duplicate (an id got twice), another order than ``expected``'s, a
    reset, or were behind (the last events not got yet: none of them later)."""
    where = {event: n for n, event in enumerate(expected)}
    got = [[where.get(i, -1) for i in f.ids] for f in followers]
    return {
        "gap": sum(bool(set(range(max(g, default=-1) + 1)) - set(g)) for g in got),
        "duplicate": sum(len(set(f.ids)) != len(f.ids) for f in followers),
        "order": sum(f.ids != expected[: len(f.ids)] for f in followers),
        "reset": sum(f.resets > 0 for f in followers),
        "behind": sum(f.after != expected[-1] for f in followers),
    }


def longest_5xx_s(answers: list[Answer]) -> float:
    """The longest time clients were answered 5xx (or not at all: the connection closed)
    with no good answer between: from the start of the first such request to the end of the
    last, answers in the order they came (0 when none)."""
    longest, first = 0.0, None
    for answer in sorted(answers, key=lambda a: a.end):
        if answer.status >= 500 or answer.status == 0:
            first = answer.start if first is None else first
            longest = max(longest, answer.end - first)
        else:
            first = None
    return longest


async def closed_loop(
    api: Api, path: str, body: dict[str, Any], lanes: int, seconds: float
) -> float:
    """Requests a second answered 200 by ``lanes`` clients each with one request in flight
    for ``seconds``."""
    deadline = time.monotonic() + seconds
    done = 0

    async def lane() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            answer = await api.ask("POST", path, "throughput", json=body)
            if answer is None or answer.status_code != 200:
                raise SystemExit(f"throughput: {answer and answer.status_code}")
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return done / (time.monotonic() - start)
