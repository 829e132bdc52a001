"""Long-term memory: ``SqliteVecMemory`` beside Chroma, filtered top-5 on the same vectors.

Both stores get the same 100,000 vectors of 384 dimensions with metadata and answer the same
filtered top-:data:`K` queries:

- the vectors are synthetic, shaped like multilingual-e5-small's (the assistant's
  embedder): a mean direction shared by every row (cosine 0.91 with each), topics, and a
  residual whose variance decays over its principal axes (:data:`SHAPE`, calibrated by hand
  on E5 embeddings of 24,576 English docstring sentences, a one-off measurement: a query's
  nearest stored row at cosine 0.89, its 100th nearest at 0.86). Random unit vectors would
  be nothing like an embedding model's, whose shared mean defeats a plain sign quantiser;
- metadata: one user owns 95 % of the rows, others 4 %, 0.9 % and 0.01 % (:data:`USERS`);
  kinds note, fact and turn (:data:`KINDS`); one day of a year each (``created`` at noon);
- ours: ``SqliteVecMemory`` in a fresh file, default settings, filled with ``add`` (one call
  per user, kind and day, as a day's notes come; an embedder that looks the rows up), the
  search through its public ``search``;
- Chroma: a ``PersistentClient`` in a fresh folder, one collection with cosine HNSW whose
  settings (ef_search among them) are fixed at creation (:data:`HNSW`), filled with ``add``
  in its largest batches, searched with ``query(where=...)``;
- ``[baseline]``: NumPy over an in-RAM float32 matrix of the matching rows (gathered before
  timing): the exact answer, also the reference of recall@5.

Each side runs in its own process (so its peak RSS and insert time are its own), ours first;
BLAS is limited to one thread in both. Per filter: a warm-up of :data:`WARMUP` queries, then
``queries`` timed ones (fresh query vectors, the same for both), median and p95 reported.

Correctness first, or the script exits 1: every answer of ours holds ``min(k, matching)``
distinct rows, all allowed by the filter, nearest first, with similarities within
:data:`SIMILARITY_TOLERANCE` (1e-5) of NumPy's cosines of those rows. Where ours is exact by
construction (a partition of at most ``exact_rows`` rows, or a filter matching at most 64),
its similarities are the exact top-k's, place by place, within the same tolerance; its ids
are not compared, as two neighbours whose similarities differ by less than float32 rounding
(sqlite-vec sums a dot product in another order than NumPy) may come in either order, while
a wrong neighbour, further than that below the exact k-th, still fails. Elsewhere its
recall@5 is at least :data:`RECALL_FLOOR`. Chroma's recall is reported, not checked. Speed
never fails the run.

The full size writes the "Long-term memory vs Chroma" section of docs/benchmarks.md and
benchmarks/results/assist_memory.json. ``--quick`` (5,000 rows, ``exact_rows`` 1,000 so the
first pass runs too) checks correctness in CI.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/assist_memory.py
        [--quick] [--queries N] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from threadpoolctl import threadpool_limits

from harness import (
    blas_line,
    blas_pools,
    child_answer,
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    parse_platform_args,
    peak_rss_mb,
    proc_status_mb,
    write_outputs,
)

START, END = "<!-- assist_memory:start -->", "<!-- assist_memory:end -->"
SEED = 0
K = 5
DIM = 384
SIZES: dict[str, dict[str, Any]] = {
    "quick": {"rows": 5_000, "queries": 20, "exact_rows": 1_000},
    "full": {"rows": 100_000, "queries": 200, "exact_rows": None},  # None: ours' default
}
WARMUP = 5
TARGET_P95_MS = 20.0
RECALL_FLOOR = 0.95
"""Ours' recall@5 on a filter it answers approximately must reach this, or the run fails."""
SIMILARITY_TOLERANCE = 1e-5
"""How far apart two float32 computations of one cosine may be (absolute). Near 0.9 a float32
step is 6e-8, and a 384-term dot product summed in another order (sqlite-vec's loop, NumPy's
BLAS or einsum) drifts by about sqrt(384) = 20 such steps, about 1e-6: this allows ten times
that, and is still a thirtieth of the 3e-4 between consecutive neighbours (the nearest row
at cosine 0.89, the 100th at 0.86)."""
USERS = {"u0": 0.95, "u1": 0.04, "u2": 0.009, **{f"u{i}": 0.0001 for i in range(3, 13)}}
KINDS = {"note": 0.7, "fact": 0.2, "turn": 0.1}
DAY, DAYS, FIRST_DAY = 86_400.0, 365, 1_735_689_600.0  # 2025-01-01 00:00 UTC
SHAPE: dict[str, Any] = {
    "topics": 4_000,  # topic centres, drawn like the residuals
    "topic_share": 0.55,  # of a stored row's residual variance (0.25 for a query's)
    "query_topic_share": 0.25,
    "decay": 1.1,  # the residual variance of principal axis i is proportional to (i + 8)^-1.1
    "decay_offset": 8,
    "mean_weight": (0.91, 0.887),  # cosine with the shared mean: stored rows, queries
    "residual_norm": (0.41, 0.46),
}
HNSW = {"space": "cosine", "ef_construction": 100, "max_neighbors": 16, "ef_search": 100}
FILTERS: dict[str, dict[str, Any]] = {
    "user u0 (95 %)": {"user": "u0"},
    "user u1 (4 %)": {"user": "u1"},
    "user u2 (0.9 %)": {"user": "u2"},
    "user u3 (0.01 %)": {"user": "u3"},
    "no filter (100 %)": {},
    "user u0 + kind fact": {"user": "u0", "kind": "fact"},
    "last 30 days": {"since_day": DAYS - 30},
    "user u0 + last 7 days": {"user": "u0", "since_day": DAYS - 7},
}
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
PACKAGES = ["azuraforge", "sqlite-vec", "pysqlite3-binary", "chromadb", "numpy"]


# ---- the data ---------------------------------------------------------------------------


def embedding_like(rows: int, queries: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows and queries shaped like E5's (:data:`SHAPE`), float32."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
    variance = (np.arange(DIM) + SHAPE["decay_offset"]) ** -SHAPE["decay"]
    axes = (np.sqrt(variance / variance.sum())[:, None] * basis.T).astype(np.float32)
    mean = rng.normal(size=DIM).astype(np.float32)
    mean /= np.linalg.norm(mean)
    centres = rng.normal(size=(SHAPE["topics"], DIM)).astype(np.float32) @ axes

    def draw(count: int, share: float, side: int) -> np.ndarray:
        out = np.empty((count, DIM), dtype=np.float32)
        for at in range(0, count, 10_000):  # in blocks: bounded temporaries
            n = min(10_000, count - at)
            topic = centres[rng.integers(0, SHAPE["topics"], n)]
            own = rng.normal(size=(n, DIM)).astype(np.float32) @ axes
            residual = np.sqrt(share) * topic + np.sqrt(1 - share) * own
            residual -= np.outer(residual @ mean, mean)
            block = SHAPE["mean_weight"][side] * mean + SHAPE["residual_norm"][side] * residual
            out[at : at + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    return draw(rows, SHAPE["topic_share"], 0), draw(queries, SHAPE["query_topic_share"], 1)


def metadata(rows: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Each row's user (the shares of :data:`USERS`, at least 10 rows each, shuffled), kind
    and day."""
    rng = np.random.default_rng(seed + 1)
    counts = {u: max(10, round(share * rows)) for u, share in USERS.items()}  # 10: a top-5
    counts["u0"] += rows - sum(counts.values())
    users = np.concatenate([np.full(n, u) for u, n in counts.items()])
    rng.shuffle(users)
    kinds = rng.choice(list(KINDS), size=rows, p=list(KINDS.values()))
    return {"user": users, "kind": kinds, "day": rng.integers(0, DAYS, rows)}


def created(day: int) -> float:
    return FIRST_DAY + day * DAY + DAY / 2


def allowed(meta: dict[str, np.ndarray], spec: dict[str, Any]) -> np.ndarray:
    """The rows a filter allows, as a boolean mask."""
    mask = np.ones(len(meta["user"]), dtype=bool)
    for key in ("user", "kind"):
        if key in spec:
            mask &= meta[key] == spec[key]
    if "since_day" in spec:
        mask &= meta["day"] >= spec["since_day"]
    return mask


# ---- the two sides (each in a child process) --------------------------------------------


class Lookup:
    """The embedder of the benchmark: ``"r 12"`` is stored row 12, ``"q 3"`` query 3."""

    name, dim = "e5-like-synthetic-384", DIM

    def __init__(self, rows: np.ndarray, queries: np.ndarray) -> None:
        self.table = {"r": rows, "q": queries}

    def embed(self, texts: Any) -> np.ndarray:
        return np.stack([self.table[t[0]][int(t[2:])] for t in texts])


def ours_side(data: Path, work: Path, exact_rows: int | None) -> dict[str, Any]:
    from azuraforge.assist.memory import Filter, SqliteVecMemory

    rows, queries, meta = load(data)
    rss_loaded = proc_status_mb("VmRSS")
    settings = {} if exact_rows is None else {"exact_rows": exact_rows}
    memory = SqliteVecMemory(work / "memory.db", Lookup(rows, queries), **settings)
    row_of: dict[int, int] = {}
    groups: dict[tuple[str, str, int], list[int]] = {}
    for i, key in enumerate(zip(meta["user"], meta["kind"], meta["day"].tolist(), strict=True)):
        groups.setdefault(key, []).append(i)
    start = time.perf_counter()
    for (user, kind, day), members in groups.items():
        ids = memory.add([f"r {i}" for i in members], user=user, kind=kind, created=created(day))
        row_of.update(zip(ids, members, strict=True))
    insert_s = time.perf_counter() - start

    def search(j: int, spec: dict[str, Any]) -> tuple[list[int], list[float], bool]:
        since = created(spec["since_day"]) - DAY / 2 if "since_day" in spec else None
        where = Filter(user=spec.get("user"), kind=spec.get("kind"), since=since)
        hits = memory.search(f"q {j}", K, where)
        similarities = [h.similarity for h in hits]
        return (
            [row_of[h.memory.id] for h in hits],
            similarities,
            similarities == sorted(similarities, reverse=True),
        )

    answer = run_queries(search, len(queries) - WARMUP)
    versions = memory._db.execute("select sqlite_version(), vec_version()").fetchone()
    return {
        **answer,
        "insert_s": insert_s,
        "add_calls": len(groups),
        "exact_rows": memory.exact_rows,
        "candidates": memory.candidates,
        "disk_mb": (work / "memory.db").stat().st_size / 2**20,
        "rss_loaded_mb": rss_loaded,
        "peak_rss_mb": peak_rss_mb(),
        "sqlite": versions[0],
        "sqlite_vec": versions[1],
    }


def chroma_side(data: Path, work: Path) -> dict[str, Any]:
    import chromadb
    from chromadb.config import Settings

    rows, queries, meta = load(data)
    rss_loaded = proc_status_mb("VmRSS")
    client = chromadb.PersistentClient(
        path=str(work / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    collection = client.create_collection(
        "memory", configuration=cast(Any, {"hnsw": HNSW}), embedding_function=None
    )
    batch = client.get_max_batch_size()
    start = time.perf_counter()
    for at in range(0, len(rows), batch):
        span = range(at, min(at + batch, len(rows)))
        collection.add(
            ids=[str(i) for i in span],
            embeddings=rows[at : span.stop],
            documents=[f"r {i}" for i in span],
            metadatas=[
                {"user": str(meta["user"][i]), "kind": str(meta["kind"][i]),
                 "created": created(int(meta["day"][i]))}
                for i in span
            ],
        )  # fmt: skip
    insert_s = time.perf_counter() - start

    def search(j: int, spec: dict[str, Any]) -> tuple[list[int], list[float], bool]:
        found = collection.query(
            query_embeddings=queries[j : j + 1], n_results=K, where=chroma_where(spec),
            include=["distances"],
        )  # fmt: skip
        distances = found["distances"][0] if found["distances"] else []
        return [int(i) for i in found["ids"][0]], [1.0 - d for d in distances], True

    answer = run_queries(search, len(queries) - WARMUP)
    disk = sum(f.stat().st_size for f in (work / "chroma").rglob("*") if f.is_file())
    return {
        **answer,
        "insert_s": insert_s,
        "add_calls": -(-len(rows) // batch),
        "batch": batch,
        "disk_mb": disk / 2**20,
        "rss_loaded_mb": rss_loaded,
        "peak_rss_mb": peak_rss_mb(),
    }


def chroma_where(spec: dict[str, Any]) -> dict[str, Any] | None:
    """A filter in Chroma's ``where`` language."""
    terms: list[dict[str, Any]] = [{k: spec[k]} for k in ("user", "kind") if k in spec]
    if "since_day" in spec:
        terms.append({"created": {"$gte": created(spec["since_day"]) - DAY / 2}})
    if len(terms) > 1:
        return {"$and": terms}
    return terms[0] if terms else None


def run_queries(
    search: Callable[[int, dict[str, Any]], tuple[list[int], list[float], bool]], queries: int
) -> dict[str, Any]:
    """The first search's time, then per filter a warm-up and every query timed."""
    first_spec = next(iter(FILTERS.values()))
    start = time.perf_counter()
    search(0, first_spec)
    first_ms = (time.perf_counter() - start) * 1e3
    out: dict[str, Any] = {"first_search_ms": first_ms, "filters": {}}
    for name, spec in FILTERS.items():
        for j in range(queries, queries + WARMUP):  # warm-up queries are not timed ones
            search(j, spec)
        times, answers = [], []
        for j in range(queries):
            start = time.perf_counter()
            ids, similarities, ordered = search(j, spec)
            times.append((time.perf_counter() - start) * 1e3)
            answers.append({"ids": ids, "similarities": similarities, "ordered": ordered})
        out["filters"][name] = {"times_ms": times, "answers": answers}
        print(f"  {name}: median {np.median(times):.2f} ms", file=sys.stderr)
    return out


def load(data: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    found = np.load(data / "data.npz")
    meta = {key: found[key] for key in ("user", "kind", "day")}
    return found["rows"], found["queries"], meta


def run_side(name: str, data: Path, exact_rows: int | None) -> None:
    """Run one side here and print its figures as JSON (the child of :func:`measure`)."""
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory(prefix="memory-") as work:
        if name == "ours":
            answer = ours_side(data, Path(work), exact_rows)
        else:
            answer = chroma_side(data, Path(work))
    print(json.dumps(answer))


def measure(name: str, data: Path, exact_rows: int | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--side", name, "--data", str(data)]
    if exact_rows is not None:
        command += ["--exact-rows", str(exact_rows)]
    print(f"{name}: inserting and searching", file=sys.stderr)
    return child_answer(command, name, show_stderr=True)


# ---- the reference, the checks and the figures ------------------------------------------


def exact_answers(
    rows: np.ndarray, queries: np.ndarray, meta: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Per filter: the matching rows, the exact top-k of each query and its similarities,
    and the time of the NumPy baseline (matrix of the matching rows gathered beforehand)."""
    out = {}
    for name, spec in FILTERS.items():
        members = np.flatnonzero(allowed(meta, spec))
        matrix = np.ascontiguousarray(rows[members])

        def top(j: int, matrix: np.ndarray = matrix, members: np.ndarray = members) -> Any:
            scores = matrix @ queries[j]
            count = min(K, len(scores))
            best = np.argpartition(-scores, count - 1)[:count]
            best = best[np.argsort(-scores[best], kind="stable")]
            return members[best], scores[best]

        for j in range(len(queries) - WARMUP, len(queries)):
            top(j)
        times, answers = [], []
        for j in range(len(queries) - WARMUP):
            start = time.perf_counter()
            ids, scores = top(j)
            times.append((time.perf_counter() - start) * 1e3)
            answers.append((ids.tolist(), scores.tolist()))
        out[name] = {"matching": len(members), "times_ms": times, "answers": answers}
    return out


def ours_path(matching: int, partition: int, exact_rows: int) -> str:
    """Which way ours answers a filter, and whether that is exact by construction."""
    if partition <= exact_rows:
        return "exact scan"
    if matching <= max(8 * K, 64):
        return "first pass, all matching ranked (exact)"
    return "first pass (approximate)"


def check(
    answers: dict[str, Any],
    exact: dict[str, Any],
    data: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]],
    exact_rows: int | None,
) -> dict[str, Any]:
    """Recall@k of one side per filter; for ours (``exact_rows`` given) the problems found.

    Recall counts the exact top-k's ids among those returned, so a neighbour swapped with
    one tied within :data:`SIMILARITY_TOLERANCE` counts as a miss. It stays that strict: it is
    checked only where ours is approximate, such a tie at the k-th place is rare (consecutive
    neighbours are about 3e-4 apart), and one miss costs 1 / (k * queries) of recall, while
    ours' 0.998 to 1.0 at full size is about 0.05 above :data:`RECALL_FLOOR`."""
    rows, queries, meta = data
    rows_total = len(meta["user"])
    out, problems = {}, []
    for name, spec in FILTERS.items():
        reference, found = exact[name], answers[name]["answers"]
        mask = allowed(meta, spec)
        partition = int(np.count_nonzero(meta["user"] == spec["user"])) if "user" in spec else (
            rows_total)  # fmt: skip
        path = ours_path(reference["matching"], partition, exact_rows or 0)
        recalls = []
        for j, (exact_top, answer) in enumerate(zip(reference["answers"], found, strict=True)):
            exact_ids = exact_top[0]
            recalls.append(len(set(exact_ids) & set(answer["ids"])) / len(exact_ids))
            if exact_rows is None:
                continue
            cosines = rows[answer["ids"]] @ queries[j]
            problem = answer_problem(answer, exact_top, mask, "exact" in path, cosines)
            if problem:
                problems.append(f"{name}, query {j}: {problem}")
        recall = float(np.mean(recalls))
        if exact_rows is not None and path == "first pass (approximate)" and recall < RECALL_FLOOR:
            problems.append(f"{name}: recall@{K} {recall:.4f} below {RECALL_FLOOR}")
        out[name] = {"recall": recall, "path": path, "partition": partition}
    return {"filters": out, "problems": problems[:20]}


def answer_problem(
    answer: dict[str, Any],
    exact_top: tuple[list[int], list[float]],
    mask: np.ndarray,
    exact_path: bool,
    cosines: np.ndarray,
) -> str | None:
    """What is wrong with one answer of ours, or ``None``.

    ``exact_top`` is the exact top-k (ids and similarities, nearest first), ``mask`` the rows
    the filter allows, ``cosines`` NumPy's similarities of the rows returned. Where ours is
    exact by construction (``exact_path``), its similarities must be the exact ones place by
    place within :data:`SIMILARITY_TOLERANCE`, its ids need not: see the module docstring."""
    ids, similarities = answer["ids"], answer["similarities"]
    exact_ids, exact_similarities = exact_top
    if len(ids) != len(exact_ids) or len(set(ids)) != len(ids) or not all(mask[ids]):
        return f"{len(ids)} rows, repeated or outside the filter"
    if not answer["ordered"]:
        return "not nearest first"
    if exact_path and not within_rounding(similarities, exact_similarities):
        return (
            f"similarities {similarities} (rows {ids}) are not the exact top-k's "
            f"{exact_similarities} (rows {exact_ids})"
        )
    if not within_rounding(similarities, cosines):
        return f"similarities {similarities} are not cosines"
    return None


def within_rounding(similarities: list[float], reference: Any) -> bool:
    """Whether ``similarities`` equal ``reference`` place by place within
    :data:`SIMILARITY_TOLERANCE`."""
    return bool(np.allclose(similarities, reference, rtol=0.0, atol=SIMILARITY_TOLERANCE))


def stats(times_ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": float(np.median(times_ms)),
        "p95_ms": float(np.percentile(times_ms, 95)),
        "max_ms": float(np.max(times_ms)),
    }


# ---- the report -------------------------------------------------------------------------


def table(report: dict[str, Any]) -> str:
    lines = [
        "| filter | rows matching | ours: path | ours median / p95 ms | ours recall@5 "
        "| Chroma median / p95 ms | Chroma recall@5 | [baseline] NumPy exact median / p95 ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["results"].items():
        ours, chroma, base = r["ours"], r["chroma"], r["baseline"]
        lines.append(
            f"| {name} | {r['matching']:,} | {r['path']} "
            f"| {ours['median_ms']:.2f} / **{ours['p95_ms']:.2f}** | {ours['recall']:.4f} "
            f"| {chroma['median_ms']:.2f} / {chroma['p95_ms']:.2f} | {chroma['recall']:.4f} "
            f"| {base['median_ms']:.2f} / {base['p95_ms']:.2f} |"
        )
    return "\n".join(lines)


def sides_table(report: dict[str, Any]) -> str:
    lines = [
        "| store | insert s (rows/s) | add calls | first search ms | disk MB "
        "| peak RSS MB (after loading the data) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("ours `SqliteVecMemory`", "ours"), ("Chroma", "chroma")):
        s = report["sides"][key]
        rate = report["config"]["rows"] / s["insert_s"]
        lines.append(
            f"| {label} | {s['insert_s']:.1f} ({rate:,.0f}) | {s['add_calls']:,} "
            f"| {s['first_search_ms']:.1f} | {s['disk_mb']:.0f} "
            f"| {s['peak_rss_mb']:.0f} ({s['rss_loaded_mb']:.0f}) |"
        )
    return "\n".join(lines)


def section(report: dict[str, Any]) -> str:
    cfg, ours = report["config"], report["sides"]["ours"]
    worst = max(report["results"].items(), key=lambda kv: kv[1]["ours"]["p95_ms"])
    met = worst[1]["ours"]["p95_ms"] < TARGET_P95_MS
    approx = [r["ours"]["recall"] for r in report["results"].values()
              if r["path"] == "first pass (approximate)"]  # fmt: skip
    block = environment_block(report["environment"]).splitlines()
    block = [blas_line(report) if line.startswith("no BLAS") else line for line in block]
    block.insert(3, f"ours' SQLite (pysqlite3) {ours['sqlite']}, sqlite-vec {ours['sqlite_vec']}")
    return "\n".join([
        START,
        "## Long-term memory vs Chroma: filtered top-5",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        f"**Target: filtered top-{K} p95 < {TARGET_P95_MS:g} ms at every selectivity: "
        f"{'met' if met else 'not met'}** (ours' slowest p95: {worst[1]['ours']['p95_ms']:.2f} "
        f"ms, {worst[0]}).",
        "",
        table(report),
        "",
        sides_table(report),
        "",
        f"{cfg['rows']:,} vectors of {DIM} dimensions shaped like multilingual-e5-small's "
        "(synthetic: a mean direction shared by all rows, 4,000 topics, a residual whose "
        "variance decays over its principal axes; calibrated by hand, once, on E5 embeddings "
        "of 24,576 English docstring sentences, which are not part of this script: a query's "
        "nearest row at cosine 0.89 and its 100th at 0.86, as there). "
        f"Users own 95 %, 4 %, 0.9 % and 10 × 0.01 % of the rows; kinds note 70 %, fact 20 %, "
        f"turn 10 %; one day of {DAYS} each. {cfg['queries']} fresh query vectors per filter "
        f"after {WARMUP} warm-up queries, the same for both stores; each store in its own "
        "process, BLAS limited to one thread.",
        "",
        f"Ours: `SqliteVecMemory` (exact_rows {ours['exact_rows']:,}, candidates "
        f"{ours['candidates']:,}), filled with {ours['add_calls']:,} `add` calls (one per user, "
        "kind and day). A partition (the user's rows, or all) of at most `exact_rows` rows is "
        "scanned exactly by sqlite-vec; a larger one goes through the first pass in RAM "
        "(signs of each row's offset from the mean, Hamming distance, then 8-bit codes, then "
        f"the best max(8k, 64) ranked by their stored embeddings). Recall@{K} where ours is "
        "approximate: " + (", ".join(f"{r:.4f}" for r in approx) or "none") + "; elsewhere "
        "ours equals the exact answer, which the script checks. The first search builds the "
        "first pass (its time is in the second table).",
        "",
        f"Chroma {report['environment']['packages']['chromadb']}: `PersistentClient`, cosine "
        f"HNSW {', '.join(f'{k}={v}' for k, v in HNSW.items() if k != 'space')} set at "
        f"creation, `add` in batches of {report['sides']['chroma']['batch']:,} "
        "(its maximum), `query(where=...)`. [baseline]: NumPy over a float32 matrix of the "
        "matching rows already in RAM (matrix-vector product, then a partial sort): exact, "
        "and the reference of recall. Peak RSS includes the input vectors each process holds "
        "(the figure in brackets, measured after loading them). Every query's time "
        "is in `benchmarks/results/assist_memory.json`.",
        "",
        "\n".join(block),
        END,
    ])  # fmt: skip


# ---- driver -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 5,000 rows, 20 queries")
    parser.add_argument("--queries", type=int, help="timed queries per filter")
    parser.add_argument("--out", type=Path, help="Markdown to update (full size default: docs)")
    parser.add_argument("--json", type=Path, help="where the numbers go")
    parser.add_argument("--side", choices=("ours", "chroma"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--exact-rows", type=int, help=argparse.SUPPRESS)
    return parse_platform_args(parser, argv, ("queries",), "assist_memory")


def figures(
    exact: dict[str, Any], sides: dict[str, Any], checks: dict[str, Any]
) -> dict[str, Any]:
    results = {}
    for name in FILTERS:
        results[name] = {
            "matching": exact[name]["matching"],
            "path": checks["ours"]["filters"][name]["path"],
            "baseline": stats(exact[name]["times_ms"]),
            **{
                key: {**stats(sides[key]["filters"][name]["times_ms"]),
                      "recall": checks[key]["filters"][name]["recall"]}
                for key in ("ours", "chroma")
            },
        }  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.side:
        run_side(args.side, args.data, args.exact_rows)
        return
    exit_on_sigterm()
    size = SIZES["quick" if args.quick else "full"]
    queries = args.queries or size["queries"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory(prefix="memory-data-") as tmp:
        rows, query_rows = embedding_like(size["rows"], queries + WARMUP)
        meta = metadata(size["rows"])
        np.savez(Path(tmp) / "data.npz", rows=rows, queries=query_rows, user=meta["user"],
                 kind=meta["kind"], day=meta["day"])  # fmt: skip
        exact = exact_answers(rows, query_rows, meta)
        sides = {name: measure(name, Path(tmp), size["exact_rows"]) for name in ("ours", "chroma")}
        pools = blas_pools()
    exact_rows = sides["ours"]["exact_rows"]
    data = (rows, query_rows, meta)
    checks = {
        "ours": check(sides["ours"]["filters"], exact, data, exact_rows),
        "chroma": check(sides["chroma"]["filters"], exact, data, None),
    }
    if checks["ours"]["problems"]:
        sys.exit("ours is wrong:\n" + "\n".join(checks["ours"]["problems"]))
    report = {
        "benchmark": "assist_memory",
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"quick": args.quick, "rows": size["rows"], "queries": queries, "k": K,
                   "warmup": WARMUP, "users": USERS, "kinds": KINDS, "shape": SHAPE,
                   "hnsw": HNSW, "filters": FILTERS, "seed": SEED},
        "results": figures(exact, sides, checks),
        "sides": {name: {k: v for k, v in s.items() if k != "filters"}
                  for name, s in sides.items()},
        "times_ms": {name: {f: v["times_ms"] for f, v in s["filters"].items()}
                     for name, s in sides.items()},
        "blas": pools,
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "environment": environment(load_before, ticks, None, PACKAGES),
    }  # fmt: skip
    text = section(report)
    print(text)
    write_outputs(report, text, (START, END), args.out, args.json)


if __name__ == "__main__":
    main()
