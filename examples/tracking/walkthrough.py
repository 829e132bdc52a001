"""The tracking walkthrough of docs/tracking.md, repeatable: a real server, a weather-forecaster
run, then the two PyTorch examples logging to it (``pytorch_track.py`` through
``azuraforge.track``, ``pytorch_mlflow.py`` through plain ``mlflow``), the server killed and
started again on the same store and port mid-run, and a track script killed with ``kill -9``.

    AZURAFORGE_DATA_MIRROR=/work/shared/data .venv/bin/python examples/tracking/walkthrough.py \\
        --screenshots docs/images --figures build/tracking-walkthrough.json

It prints what it measured (points each script logged against those the API keeps, the
track loop's longest pause, the MLflow loop's stall, each run's test MAE beside the
forecaster's) and exits 1 when a point was lost, a run did not end as it should or the
outage did not fall mid-run of both scripts. Takes about six minutes; Chromium
(``/usr/bin/chromium``, or ``AZURAFORGE_CHROMIUM``) and Playwright take the screenshots.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CLI = [PYTHON, "-c", "from azuraforge.cli.main import main; main()"]
CHROMIUM = os.environ.get("AZURAFORGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking"]
FORECASTER = {"epochs": 2, "max_rows": 8760}  # the scripts read the same first rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="the server's home (new)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the server is away")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--step-seconds", type=float, default=0.15)
    parser.add_argument("--screenshots", type=Path, default=Path("build/screenshots"))
    parser.add_argument("--figures", type=Path, default=None, help="a JSON file of the figures")
    args = parser.parse_args()
    if not os.environ.get("AZURAFORGE_DATA_MIRROR"):
        print("set AZURAFORGE_DATA_MIRROR to the folder holding weather/", file=sys.stderr)
        return 2
    home = args.home or Path(tempfile.mkdtemp(prefix="azuraforge-walkthrough-"))
    walk = Walkthrough(home, args.port, args.screenshots)
    try:
        figures = walk.run(args)
    finally:
        walk.stop_server()
    if args.figures:
        args.figures.parent.mkdir(parents=True, exist_ok=True)
        args.figures.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0 if figures["held"] else 1


class Walkthrough:
    def __init__(self, home: Path, port: int, screenshots: Path) -> None:
        self.home, self.port, self.shots = home, port, screenshots
        self.url = f"http://127.0.0.1:{port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AZURAFORGE_", "MLFLOW_"))
        }
        self.env.update(
            AZURAFORGE_HOME=str(home), AZURAFORGE_DATA_MIRROR=os.environ["AZURAFORGE_DATA_MIRROR"]
        )
        self.starts = 0

    # --- the server -------------------------------------------------------------------
    def start_server(self) -> str:
        """``azuraforge serve`` on the home's SQLite store; the sign-in path it printed."""
        self.starts += 1
        log = self.home / f"serve-{self.starts}.log"
        command = [*CLI, "serve", "--port", str(self.port), "--workers", "1"]
        with open(log, "wb") as out:
            self.server = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        found = re.search(r"sign in: \S*?(/api/v1/auth/link\?token=\S+)", log.read_text())
        return found.group(1) if found else ""

    def kill_server(self) -> None:
        """The server and its workers killed outright (SIGKILL to its process group)."""
        assert self.server is not None
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait()

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(30)

    def cli(self, *words: str, **env: str) -> str:
        done = subprocess.run([*CLI, *words], env={**self.env, **env},
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def wait_status(self, run: int, statuses: set[str], timeout: float) -> tuple[str, float]:
        began = time.monotonic()
        with self.api() as api:
            while time.monotonic() - began < timeout:
                status = listed(api)[run]["status"]
                if status in statuses:
                    return status, time.monotonic() - began
                time.sleep(0.5)
        return status, time.monotonic() - began

    # --- the scripts ------------------------------------------------------------------
    def script(self, which: str, name: str, record: Path, *extra: str) -> subprocess.Popen[bytes]:
        """One of the examples, started with what its client needs and nothing else."""
        env = {k: v for k, v in self.env.items() if k != "AZURAFORGE_HOME"}
        if which == "track":
            env.update(
                AZURAFORGE_API_URL=self.url,
                AZURAFORGE_TOKEN=self.token,
                AZURAFORGE_HOME=str(self.home / "client"),
            )
        else:
            env.update(MLFLOW_TRACKING_URI=self.url, MLFLOW_TRACKING_TOKEN=self.token)
        command = [
            PYTHON,
            str(HERE / f"pytorch_{which}.py"),
            "--name",
            name,
            "--record",
            str(record),
            *extra,
        ]
        log = open(record.with_suffix(".log"), "wb")  # noqa: SIM115 (the child's)
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    # --- the walkthrough --------------------------------------------------------------
    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        self.home.mkdir(parents=True, exist_ok=True)
        figures: dict[str, Any] = {"home": str(self.home), "outage_seconds": args.outage}
        link = self.start_server()
        out = self.cli(
            "tokens",
            "create",
            "--user",
            "admin",
            "--project",
            "default",
            "--role",
            "editor",
            "--name",
            "walkthrough",
        )
        self.token = re.search(r"af_\S+", out).group(0)  # type: ignore[union-attr]
        client = {"AZURAFORGE_API_URL": self.url, "AZURAFORGE_TOKEN": self.token}
        sets = [w for k, v in FORECASTER.items() for w in ("--set", f"{k}={v}")]
        self.cli("submit", "weather-forecaster", *sets, "--name", "forecaster", **client)
        with self.api() as api:
            forecaster = api.get("/runs", params={"pipeline": "weather-forecaster"}).json()[
                "data"
            ][0]["id"]
        status, took = self.wait_status(forecaster, {"completed", "failed"}, 600)
        figures["forecaster"] = {"run": forecaster, "status": status, "seconds": round(took, 1)}

        records = {w: self.home / f"{w}.jsonl" for w in ("track", "mlflow")}
        common = [
            "--epochs",
            str(args.epochs),
            "--step-seconds",
            str(args.step_seconds),
            "--max-rows",
            str(FORECASTER["max_rows"]),
        ]
        scripts = {w: self.script(w, f"torch-{w}", records[w], *common) for w in records}
        wait_for(lambda: all(steps(records[w]) >= 120 for w in records), 300)
        with browser() as open_page:
            page = open_page(self.url + link)
            self.shoot(page, "#/runs", "tracking-live-list", wait="text=torch-track")
            runs = {w: first_run(records[w]) for w in records}
            self.shoot(
                page,
                f"#/runs/{runs['track']}",
                "tracking-live-track",
                wait=".js-plotly-plot",
            )
        # The outage: both scripts mid-run.
        before = {w: steps(records[w]) for w in records}
        down = time.time()
        self.kill_server()
        time.sleep(args.outage)
        up = time.time()
        link = self.start_server()
        during = {w: steps(records[w], down, up) for w in records}
        figures["outage"] = {"down": down, "up": up, "steps_logged_before": before,
                             "steps_logged_during": during}  # fmt: skip
        for which, process in scripts.items():
            process.wait(900)
            figures[which] = {"exit": process.returncode}
        self.account(figures, records, runs, down, up)
        # The outage fell mid-run: each script logged steps before it and after it.
        figures["outage"]["mid_run"] = all(
            steps(records[w], 0, down) and steps(records[w], up) for w in records
        )
        self.compare(figures, forecaster, runs)
        self.killed(figures)
        self.final_shots(
            link, [forecaster, runs["track"], runs["mlflow"]], figures["killed"]["run"]
        )
        figures["held"] = all(
            figures[w]["lost_points"] == 0 and figures[w]["status"] == "completed" for w in records
        ) and (figures["killed"]["status"] == "lost" and figures["outage"]["mid_run"])
        # The scripts' scores are their test MAE, on the forecaster's test hours.
        persistence = figures["forecaster"]["MAE_persistence"]
        figures["comparable"] = all(
            figures[w]["MAE_model"] == figures[w]["test"]["MAE"]
            and figures[w]["MAE_persistence"] == persistence
            for w in records
        )
        figures["held"] = figures["held"] and figures["comparable"]
        return figures

    def final_shots(self, link: str, ids: list[int], killed: int) -> None:
        """The runs list by test MAE with the forecaster's scores as columns, the compare
        page of the three runs, and the killed script's run (drawn from a wide layout)."""
        scores = "metrics.MAE.model,metrics.MAE.persistence"
        with browser() as open_page:
            page = open_page(self.url + link, wide=True)
            by_score = f"#/runs?columns={scores}&sort=score:metrics.MAE.model&order=asc"
            self.shoot(page, by_score, "tracking-scores-list", wait="text=torch-mlflow")
            self.shoot(page, f"#/compare?experiments={','.join(map(str, ids))}&scores={scores}",
                       "tracking-compare", wait=".js-plotly-plot")  # fmt: skip
            self.shoot(page, f"#/runs/{killed}", "tracking-killed-lost", wait="text=lost")

    def account(
        self,
        figures: dict[str, Any],
        records: dict[str, Path],
        runs: dict[str, int],
        down: float,
        up: float,
    ) -> None:
        """Points each script logged against those the API keeps, and how its loop fared
        while the server was away."""
        with self.api() as api:
            for which, record in records.items():
                calls = [c for c in read(record) if "step" in c]
                logged = Counter(k for c in calls for k in c["keys"])
                run = listed(api)[runs[which]]
                curves = api.get(
                    f"/runs/{runs[which]}/metrics", params={"max_points": 100_000}
                ).json()["metrics"]
                kept = {k: len(curves.get(k, {"steps": []})["steps"]) for k in logged}
                losses = [c for c in calls if c["keys"] == ["loss"]]
                gaps = [b["began"] - a["began"] for a, b in itertools.pairwise(losses)]
                during = [
                    g
                    for a, g in zip(losses, gaps, strict=False)
                    if down - 5 <= a["began"] <= up + 5
                ]
                longest_call = max(calls, key=lambda c: c["ended"] - c["began"])
                figures[which].update(
                    run=runs[which], status=run["status"], points_logged=dict(logged),
                    points_kept=kept,
                    lost_points=sum(max(0, logged[k] - kept[k]) for k in logged),
                    extra_points=sum(max(0, kept[k] - logged[k]) for k in logged),
                    median_step_gap_s=round(statistics.median(gaps), 3),
                    longest_step_gap_during_outage_s=round(max(during, default=0.0), 3),
                    longest_log_call_s=round(longest_call["ended"] - longest_call["began"], 3),
                    longest_log_call_began_after_down_s=round(longest_call["began"] - down, 1),
                    steps_while_down=sum(1 for c in losses if down <= c["began"] <= up),
                    test=next(c["test"] for c in read(record) if "test" in c),
                    client_log=said(record.with_suffix(".log")),
                )  # fmt: skip

    def compare(self, figures: dict[str, Any], forecaster: int, runs: dict[str, int]) -> None:
        """Each run's test scores (``metrics.MAE.model``, ``metrics.MAE.persistence``): the
        forecaster's from its result, the scripts' from ``log_scores`` and MLflow's latest
        ``MAE.model``; the persistence ones are equal when the test hours are."""
        with self.api() as api:
            by_id = listed(api)
        for which, run in {"forecaster": forecaster, **runs}.items():
            scores = by_id[run].get("score_values") or {}
            figures[which].update(
                MAE_model=scores.get("metrics.MAE.model"),
                MAE_persistence=scores.get("metrics.MAE.persistence"),
            )

    def killed(self, figures: dict[str, Any]) -> None:
        """A track script killed with SIGKILL mid-run, its idle limit 10 s: its run ends lost."""
        record = self.home / "killed.jsonl"
        process = self.script(
            "track",
            "torch-killed",
            record,
            "--epochs",
            "50",
            "--step-seconds",
            "0.05",
            "--idle-limit",
            "10",
        )
        wait_for(lambda: steps(record) >= 100, 300)
        run = first_run(record)
        process.send_signal(signal.SIGKILL)
        process.wait()
        status, took = self.wait_status(run, {"lost", "completed", "failed"}, 120)
        figures["killed"] = {
            "run": run,
            "status": status,
            "seconds_to_lost": round(took, 1),
            "idle_limit": 10,
        }

    def shoot(self, page: Any, fragment: str, name: str, wait: str) -> None:
        """A PNG of the page at ``fragment`` once ``wait`` shows."""
        page.goto(f"{self.url}/{fragment}")
        page.wait_for_selector(wait, timeout=30_000)
        page.wait_for_timeout(1500)  # the charts' last draw
        self.shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.shots / f"{name}.png"))


def said(log: Path) -> list[str]:
    """What a script's client said of the outage in its output."""
    lines = log.read_text().splitlines()
    return [line for line in lines if "tracking:" in line or "Retry" in line][:6]


def listed(api: httpx.Client) -> dict[int, dict[str, Any]]:
    """The project's runs by id, with their scores (the list, not a run's page)."""
    columns = "metrics.MAE.model,metrics.MAE.persistence"
    answer = api.get("/runs", params={"limit": 200, "columns": columns})
    answer.raise_for_status()
    return {run["id"]: run for run in answer.json()["data"]}


def read(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.endswith("}")]


def steps(record: Path, after: float = 0.0, before: float = float("inf")) -> int:
    """Training steps (loss points) a script logged, in ``[after, before]``."""
    return sum(
        1 for c in read(record) if c.get("keys") == ["loss"] and after <= c["began"] <= before
    )


def first_run(record: Path) -> int:
    return int(next(c["run"] for c in read(record) if "run" in c))


def wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the scripts did not get that far")
        time.sleep(0.5)


class browser:  # noqa: N801 (used as a function)
    """Headless Chromium through Playwright; ``open_page(link)`` signs in by the link."""

    def __enter__(self) -> Any:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )

        def open_page(link: str, wide: bool = False) -> Any:
            """A page signed in by ``link``; ``wide``: a 1828-pixel layout drawn 1280 wide
            (for the wide tables)."""
            size = {"viewport": {"width": 1828, "height": 1143}, "device_scale_factor": 0.7}
            context = (
                self._browser.new_context(**size)
                if wide
                else self._browser.new_context(viewport={"width": 1280, "height": 800})
            )
            page = context.new_page()
            page.goto(link, wait_until="commit")
            return page

        return open_page

    def __exit__(self, *exc: object) -> None:
        self._browser.close()
        self._playwright.stop()


if __name__ == "__main__":
    sys.exit(main())
