"""MLflow conformance: one script of MLflow's own client (``mlflow-skinny``, unchanged) against a
tracking server, and a normalized record of every answer it got.

:func:`run_conformance` drives the server at a tracking URI (its token, if any, in
``MLFLOW_TRACKING_TOKEN``, as an MLflow script gets it) through the calls a training script
and a notebook make: experiments (create, get by name, get, search, the default ``"0"``),
runs (create, get, update, end, search), params (one of 6,000 characters, immutable), 10,000
metric points in one ``log_batch`` (NaN and infinite values among them, 64-bit steps), tags
(set, delete), an artifact (upload, list, download through the artifact proxy, a run's whole
files from ``.``), experiments tagged, renamed, deleted and restored and searched by tags,
runs deleted and restored and started and ended at the client's times,
``search_runs`` with filters (metrics, params, tags, attributes, ``AND``) and ``order_by``
and pages, a metric's history whole and a page at a time, and deliberate errors (an unknown
run, an unknown experiment name, a name taken, bad filters, a param changed, a write to an
ended run, a call we do not serve, a run left silent).

The record maps each step's name to its answer, with what the server chooses replaced by
stable placeholders: run ids by ``<run N>`` and experiment ids by ``<experiment N>`` (in the
order the script made them; ``"0"``, the default, stays), times the server stamped within a
day of now by ``<now>``, page tokens by ``<token>``, a run's user by ``<client>``; the tags
the client fills from its machine (``mlflow.user``, ``mlflow.source...``) are left out; NaN
and infinite numbers spelled ``"NaN"``, ``"Infinity"`` (so the record is strict JSON). An
error is ``{"error": <MLflow's error_code>}``. Two servers that answer alike give equal
records.

``make bench`` records ``mlflow server``'s answers (``benchmarks/mlflow_server.py``, into
``benchmarks/results/mlflow_conformance.json``); ``tests/platform/api/test_mlflow_conformance.py``
runs the same script against ours and compares, the differences we mean listed with
their reasons.

Usage (against a running server)::

    MLFLOW_TRACKING_TOKEN=... .venv/bin/python benchmarks/mlflow_conformance.py \\
        http://127.0.0.1:5000 [--out record.json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

POINTS = 10_000
"""Metric points the training run logs in one ``log_batch``."""
T0 = 1_700_000_000_000
"""The first point's timestamp (ms): the client chooses it, so it is kept as is."""
BIG_STEPS = (2**31, 2**40, 2**62 + 1)
"""Steps past 32 bits (the last past a double's 53-bit mantissa)."""
LONG_PARAM = "p" * 6000
"""MLflow's longest param value."""
UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"
"""A run id of MLflow's form that no server made."""
UNKNOWN_EXPERIMENT = "987654321"
PAGE = 4000
"""Points per page of the paged metric history."""
CLIENT_TAGS = ("mlflow.user", "mlflow.source.", "mlflow.git")
"""The starts of the tags the client fills from the machine and the program it runs
(``mlflow.source.git.commit`` only within a git checkout...): left out of the record."""
DAY_MS = 86_400_000

Record = dict[str, Any]


class Placeholders:
    """Stable names for the ids a server chose, in the order the script met them."""

    def __init__(self) -> None:
        self.runs: dict[str, str] = {}
        self.experiments: dict[str, str] = {"0": "0"}
        self.now_ms = int(time.time() * 1000)

    def run(self, run_id: str) -> str:
        return self.runs.setdefault(run_id, f"<run {len(self.runs) + 1}>")

    def experiment(self, experiment_id: str) -> str:
        return self.experiments.setdefault(experiment_id, f"<experiment {len(self.experiments)}>")

    def time(self, ms: int | None) -> int | str | None:
        """``<now>`` for a server's stamp within a day of now; else the value (a time in the
        wrong unit shows)."""
        if ms is None or abs(ms - self.now_ms) > DAY_MS:
            return ms
        return "<now>"

    def location(self, uri: str) -> str:
        """An artifact URI with its experiment and run ids as placeholders."""
        match = re.fullmatch(r"mlflow-artifacts:/([^/]+)(?:/([^/]+)/artifacts)?", uri or "")
        if match is None:
            return uri
        experiment, run = match.groups()
        where = f"mlflow-artifacts:/{self.experiment(experiment)}"
        return where if run is None else f"{where}/{self.run(run)}/artifacts"


def number(value: float) -> float | str:
    """A float as strict JSON keeps it: NaN and the infinities spelled."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def tags_of(tags: dict[str, str]) -> dict[str, str]:
    """A run's tags by key, without the client's machine's (:data:`CLIENT_TAGS`)."""
    return {k: v for k, v in sorted(tags.items()) if not k.startswith(CLIENT_TAGS)}


def experiment_view(ids: Placeholders, experiment: Any) -> Record | None:
    if experiment is None:
        return None
    return {
        "experiment_id": ids.experiment(experiment.experiment_id),
        "name": experiment.name,
        "artifact_location": ids.location(experiment.artifact_location),
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": ids.time(experiment.creation_time),
        "last_update_time": ids.time(experiment.last_update_time),
        "tags": dict(sorted(experiment.tags.items())),
    }


def run_view(ids: Placeholders, run: Any) -> Record:
    info, data = run.info, run.data
    return {
        "run_id": ids.run(info.run_id),
        "run_name": info.run_name,
        "experiment_id": ids.experiment(info.experiment_id),
        "user_id": "<client>" if info.user_id else info.user_id,
        "status": info.status,
        "start_time": ids.time(info.start_time),
        "end_time": ids.time(info.end_time),
        "artifact_uri": ids.location(info.artifact_uri),
        "lifecycle_stage": info.lifecycle_stage,
        "metrics": {k: number(v) for k, v in sorted(data.metrics.items())},
        "params": {k: v if len(v) < 100 else f"<{len(v)} characters>"
                   for k, v in sorted(data.params.items())},
        "tags": tags_of(data.tags),
    }  # fmt: skip


def history_view(points: Iterable[Any]) -> Record:
    """A metric's history: how many points, their order, the non-finite ones and those past
    1e300 (an infinite value kept as the largest double, as MLflow's SQL stores keep it), the
    ends."""
    listed = list(points)
    finite = [m.value for m in listed if math.isfinite(m.value)]
    return {
        "count": len(listed),
        "steps_in_order": [m.step for m in listed] == sorted(m.step for m in listed),
        "finite_sum": round(math.fsum(finite), 6),
        "non_finite": [[m.step, number(m.value)] for m in listed if not math.isfinite(m.value)],
        "beyond_1e300": [[m.step, m.value] for m in listed if abs(m.value) > 1e300],
        "first": [[m.step, number(m.value), m.timestamp] for m in listed[:2]],
        "last": [[m.step, number(m.value), m.timestamp] for m in listed[-2:]],
    }


def answer(call: Callable[[], Any], view: Callable[[Any], Any] = lambda x: x) -> Any:
    """``view`` of what ``call`` returned, or ``{"error": <error_code>}`` if it raised
    MLflow's exception."""
    from mlflow.exceptions import MlflowException

    try:
        found = call()
    except MlflowException as e:
        return {"error": e.error_code}
    return view(found)


def training_points() -> list[Any]:
    """:data:`POINTS` seeded points of ``loss`` and ``acc`` (NaN, +inf and -inf among
    them) and the 64-bit steps of ``big``, in one list for one ``log_batch``."""
    from mlflow.entities import Metric

    rng = random.Random(0)
    steps = (POINTS - len(BIG_STEPS)) // 2
    points = []
    for step in range(steps):
        stamp = T0 + step
        points.append(Metric("loss", 1.0 / (step + 1) + rng.random() * 1e-3, stamp, step))
        points.append(Metric("acc", rng.random(), stamp, step))
    points[2 * 100] = Metric("loss", math.nan, T0 + 100, 100)
    points[2 * 200 + 1] = Metric("acc", math.inf, T0 + 200, 200)
    points[2 * 300 + 1] = Metric("acc", -math.inf, T0 + 300, 300)
    points += [Metric("big", float(i), T0, step) for i, step in enumerate(BIG_STEPS)]
    points.append(Metric("acc", math.nan, T0 + steps, steps))  # the latest value: NaN
    return points[:POINTS]


def run_conformance(
    tracking_uri: str, work: Path, silence: Callable[[str], None] | None = None
) -> Record:
    """Drive the server at ``tracking_uri`` through MLflow's client and return the normalized
    record of its answers (module docstring). ``work`` holds the files uploaded and
    downloaded. ``silence(run_id)`` stands for a script that dies and leaves its run silent
    (default: two seconds without a word); the run is read after it."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Param, RunTag

    ids = Placeholders()
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    record: Record = {}
    step = record.__setitem__
    runs = lambda found: [ids.run(r.info.run_id) for r in found]  # noqa: E731

    # -- experiments --
    step("get_experiment_by_name unknown", answer(
        lambda: client.get_experiment_by_name("conformance-missing"),
        lambda e: experiment_view(ids, e)))  # fmt: skip
    made = mlflow.set_experiment("conformance")  # made: get-by-name said it does not exist
    step("set_experiment makes it", experiment_view(ids, made))
    again = mlflow.set_experiment("conformance")
    step("set_experiment finds it", ids.experiment(again.experiment_id))
    named = client.get_experiment_by_name("conformance")
    step("get_experiment_by_name", experiment_view(ids, named))
    step("get_experiment", experiment_view(ids, client.get_experiment(made.experiment_id)))
    step("get_experiment default", experiment_view(ids, client.get_experiment("0")))
    search_id = client.create_experiment("conformance-search")
    step("create_experiment", ids.experiment(search_id))
    step("search_experiments by name", answer(
        lambda: client.search_experiments(filter_string="name LIKE 'conformance%'"),
        lambda found: [experiment_view(ids, e) for e in found]))  # fmt: skip
    step("search_experiments name =", answer(
        lambda: client.search_experiments(filter_string="name = 'conformance-search'"),
        lambda found: [ids.experiment(e.experiment_id) for e in found]))  # fmt: skip
    step("create_experiment taken", answer(lambda: client.create_experiment("conformance")))
    step("get_experiment unknown", answer(lambda: client.get_experiment(UNKNOWN_EXPERIMENT)))

    # -- a training run: params, 10,000 points, tags, an artifact --
    with mlflow.start_run(run_name="train") as active:
        run_id = active.info.run_id
        ids.run(run_id)
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "notes": LONG_PARAM})
        step("log_param same value", answer(lambda: mlflow.log_param("lr", 0.01)))
        step("log_param changed", answer(lambda: client.log_param(run_id, "lr", "0.02")))
        step("log_batch 10,000 points", answer(lambda: client.log_batch(
            run_id, metrics=training_points(), params=[Param("batch", "64")],
            tags=[RunTag("team", "x")])))  # fmt: skip
        mlflow.log_metric("single", 0.5, step=7, timestamp=T0)
        mlflow.set_tag("temp", "1")
        step("delete_tag", answer(lambda: client.delete_tag(run_id, "temp")))
        step("delete_tag unknown", answer(lambda: client.delete_tag(run_id, "never-set")))
        (work / "notes.txt").write_text("hello, conformance\n")
        step("log_artifact", answer(lambda: client.log_artifact(
            run_id, str(work / "notes.txt"), artifact_path="docs")))  # fmt: skip
        step("get_run running", run_view(ids, client.get_run(run_id)))
    step("get_run ended", run_view(ids, client.get_run(run_id)))
    step("list_artifacts root", answer(lambda: client.list_artifacts(run_id),
        lambda found: [[f.path, f.is_dir] for f in found]))  # fmt: skip
    step("list_artifacts docs", answer(lambda: client.list_artifacts(run_id, "docs"),
        lambda found: [[f.path, f.is_dir, f.file_size] for f in found]))  # fmt: skip
    fetched = client.download_artifacts(run_id, "docs/notes.txt", str(work))
    step("download_artifacts", Path(fetched).read_text())

    # -- the metric history --
    for key in ("loss", "acc", "big", "single"):
        step(f"history {key}", answer(lambda key=key: client.get_metric_history(run_id, key),
                                      history_view))  # fmt: skip
    store = client._tracking_client.store
    page = store.get_metric_history(run_id, "loss", max_results=PAGE)
    step("history page 1", {"count": len(page), "token": "<token>" if page.token else None,
                            "steps": [page[0].step, page[-1].step]})  # fmt: skip
    token = page.token
    rest = answer(lambda: store.get_metric_history(
        run_id, "loss", max_results=PAGE, page_token=token) if token else [])  # fmt: skip
    step("history page 2", rest if isinstance(rest, dict) else
         {"count": len(rest), "steps": [rest[0].step, rest[-1].step] if rest else []})  # fmt: skip

    # -- runs to search --
    search_runs = {}
    for name, params, tags, loss, end in (
        ("lstm", {"lr": "0.01", "model": "lstm"}, {"team": "x"}, 0.9, "FINISHED"),
        ("lstm", {"lr": "0.1", "model": "lstm"}, {"team": "y"}, 0.3, "FINISHED"),
        ("gru", {"lr": "0.01", "model": "gru"}, {"team": "x"}, 0.2, "FAILED"),
        ("tcn", {"lr": "0.001", "model": "tcn"}, {"team": "x"}, None, "KILLED"),
    ):
        created = client.create_run(search_id, run_name=name, tags=tags)
        rid = created.info.run_id
        search_runs[rid] = ids.run(rid)
        from mlflow.entities import Metric

        metrics = [] if loss is None else [Metric("loss", loss, T0, 0)]
        client.log_batch(rid, metrics=metrics,
                         params=[Param(k, v) for k, v in params.items()])  # fmt: skip
        client.set_terminated(rid, end)
    step("create_run", run_view(ids, client.get_run(next(iter(search_runs)))))
    renamed = list(search_runs)[3]
    step("update_run name", answer(lambda: client.update_run(renamed, name="tcn-renamed")))
    step("get_run renamed", run_view(ids, client.get_run(renamed)))

    def search(filter_string: str = "", order_by: list[str] | None = None) -> Any:
        return answer(lambda: client.search_runs([search_id], filter_string,
                                                 order_by=order_by), runs)  # fmt: skip

    step("search all", search())
    step("search metrics", search("metrics.loss < 0.5"))
    step("search metrics =", search("metrics.loss = 0.3"))
    step("search params", search("params.lr = '0.01'"))
    step("search params LIKE", search("params.model LIKE 'ls%'"))
    step("search tags", search("tags.team = 'x'"))
    step("search tags !=", search("tags.team != 'x'"))
    step("search status", search("attributes.status = 'FINISHED'"))
    step("search run_name", search("attributes.run_name = 'lstm'"))
    step("search AND", search("metrics.loss < 0.5 AND params.model = 'lstm' AND "
                              "tags.team != 'x' AND attributes.status = 'FINISHED'"))  # fmt: skip
    step("search run_id IN", search(f"attributes.run_id IN ('{renamed}')"))
    step("order metrics ASC", search(order_by=["metrics.loss ASC"]))
    step("order metrics DESC", search(order_by=["metrics.loss DESC"]))
    step("order params, name", search(order_by=["params.lr DESC", "attributes.run_name ASC"]))
    step("order tags, metrics", search(order_by=["tags.team ASC", "metrics.loss ASC"]))
    step("order filtered", search("tags.team = 'x'", ["metrics.loss DESC"]))
    first = client.search_runs([search_id], order_by=["metrics.loss ASC"], max_results=2)
    step("search page 1", {"runs": runs(first), "token": "<token>" if first.token else None})
    second = client.search_runs([search_id], order_by=["metrics.loss ASC"], max_results=2,
                                page_token=first.token)  # fmt: skip
    step("search page 2", {"runs": runs(second), "token": "<token>" if second.token else None})
    step("search fluent", answer(lambda: mlflow.search_runs(
        [search_id], "params.lr = '0.01'", order_by=["metrics.loss DESC"],
        output_format="list"), runs))  # fmt: skip
    step("search two experiments", answer(lambda: client.search_runs(
        [made.experiment_id, search_id], "tags.team = 'x'", order_by=["attributes.run_name"]),
        runs))  # fmt: skip

    # -- the default experiment --
    default_run = client.create_run("0", run_name="default")
    step("create_run default", run_view(ids, default_run))
    client.set_terminated(default_run.info.run_id)

    # -- deliberate errors --
    step("search OR", search("metrics.loss > 1 OR params.lr = '0.1'"))
    step("search unreadable", search("metrics.loss >> 1"))
    step("search unknown field", search("datasets.name = 'x'"))
    step("get_run unknown", answer(lambda: client.get_run(UNKNOWN_RUN)))
    step("log_batch unknown run", answer(
        lambda: client.log_batch(UNKNOWN_RUN, tags=[RunTag("a", "b")])))  # fmt: skip
    step("log_metric ended run", answer(lambda: client.log_metric(run_id, "late", 1.0)))
    step("set_tag ended run", answer(lambda: client.set_tag(run_id, "late", "yes")))
    step("delete_run", answer(lambda: client.delete_run(list(search_runs)[2])))

    # -- a script killed mid-run: its run left silent --
    silent = client.create_run(made.experiment_id, run_name="killed")
    client.log_metric(silent.info.run_id, "loss", 1.0, timestamp=T0, step=0)
    (silence or (lambda _: time.sleep(2.0)))(silent.info.run_id)
    step("silent run", client.get_run(silent.info.run_id).info.status)
    lifecycles(client, ids, step, search_id, run_id, work)
    return record


def lifecycles(
    client: Any, ids: Placeholders, step: Callable[[str, Any], None], search_id: str,
    run_id: str, work: Path,
) -> None:  # fmt: skip
    """The steps of experiments' tags, names and lifecycles, runs deleted and restored, the
    client's times, and a run's files listed and downloaded from their root ``.``
    (``search_id``: the experiment of the searched runs, the last one of them deleted by
    the errors' steps; ``run_id``: the training run)."""
    from mlflow.entities import ViewType

    def experiments(**kwargs: Any) -> Any:
        return answer(lambda: client.search_experiments(**kwargs),
                      lambda found: [ids.experiment(e.experiment_id) for e in found])  # fmt: skip

    deleted = answer(lambda: client.search_runs([search_id], run_view_type=ViewType.DELETED_ONLY))
    step("search_runs DELETED_ONLY", deleted if isinstance(deleted, dict) else
         [ids.run(r.info.run_id) for r in deleted])  # fmt: skip
    gone = deleted[0].info.run_id if isinstance(deleted, list) and deleted else UNKNOWN_RUN
    step("log_metric deleted run", answer(lambda: client.log_metric(gone, "late", 1.0)))
    step("restore_run", answer(lambda: client.restore_run(gone)))
    step("get_run restored", run_view(ids, client.get_run(gone)))
    life = client.create_experiment("conformance-life", tags={"stage": "new"})
    step("create_experiment tags", experiment_view(ids, client.get_experiment(life)))
    step("set_experiment_tag", answer(lambda: client.set_experiment_tag(life, "team", "x")))
    step("delete_experiment_tag", answer(lambda: client.delete_experiment_tag(life, "stage")))
    step("delete_experiment_tag unknown",
         answer(lambda: client.delete_experiment_tag(life, "never")))  # fmt: skip
    step("rename_experiment", answer(lambda: client.rename_experiment(life, "conformance-2")))
    timed = client.create_run(life, start_time=T0, run_name="timed")
    client.set_terminated(timed.info.run_id, end_time=T0 + 5000)
    step("run times", run_view(ids, client.get_run(timed.info.run_id)))
    step("delete_experiment", answer(lambda: client.delete_experiment(life)))
    step("get_experiment deleted", experiment_view(ids, client.get_experiment(life)))
    step("get_run of deleted experiment", client.get_run(timed.info.run_id).info.lifecycle_stage)
    step("create_run deleted experiment", answer(lambda: client.create_run(life)))
    step("delete_experiment again", answer(lambda: client.delete_experiment(life)))
    step("search_experiments DELETED_ONLY", experiments(
        view_type=ViewType.DELETED_ONLY, filter_string="name LIKE 'conformance%'"))  # fmt: skip
    step("restore_experiment", answer(lambda: client.restore_experiment(life)))
    step("search_experiments tags", experiments(
        filter_string="tags.team = 'x' AND name ILIKE 'CONFORMANCE%'"))  # fmt: skip
    step("search_experiments order", experiments(
        filter_string="name LIKE 'conformance%'", order_by=["name DESC"]))  # fmt: skip
    step("search_experiments LIKE case", experiments(filter_string="name LIKE 'Conformance%'"))
    step("list_artifacts .", answer(lambda: client.list_artifacts(run_id, "."),
                                    lambda got: [[f.path, f.is_dir] for f in got]))  # fmt: skip
    whole = Path(client.download_artifacts(run_id, ".", str(work / "whole")))
    step("download_artifacts .", sorted(p.relative_to(whole).as_posix()
                                        for p in whole.rglob("*") if p.is_file()))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tracking_uri")
    parser.add_argument("--out", type=Path, help="where the record goes (default: stdout)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlflow-conformance-") as folder:
        record = run_conformance(args.tracking_uri, Path(folder))
    text = json.dumps(record, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
