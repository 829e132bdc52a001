"""``azuraforge tag`` against a real ``azuraforge serve`` (the module of ``rename`` and
``note``'s server, one for this module): what a user types and reads, and exit codes."""

from __future__ import annotations

import httpx

from tests.cli.test_notes import api, cli, queued
from tests.platform.servers import bearer

__all__ = ["api"]  # the server, a fixture of this module too


def test_tag_sets_replaces_and_deletes_and_the_list_filters_on_it(api: str) -> None:
    run, other = queued(api, "tagged"), queued(api, "untagged")
    done = cli(api, "tag", str(run), "team=forecast", "data=gspc=2024")
    assert done.exit_code == 0, done.output
    assert f"experiment {run} tags: data=gspc=2024, team=forecast" in done.output
    done = cli(api, "tag", str(run), "team=ops", "--delete", "data")
    assert f"experiment {run} tags: team=ops" in done.output
    listed = cli(api, "runs", "list", "--tag", "team:ops", "--csv", "--columns", "id")
    assert listed.output.splitlines() == ["id", str(run)] and other != run
    for args, code, message in [
        (["tag", str(run), "team"], 2, "a tag is key=value, got 'team'"),
        (["tag", str(run)], 2, "give key=value to set, or --delete key"),
        (["tag", str(run), "--delete", "nope"], 2, f"run {run} has no tag 'nope'"),
        (["tag", "999999", "a=b"], 2, "experiment 999999 not found"),
    ]:
        result = cli(api, *args)
        assert result.exit_code == code, result.output
        assert message in result.output and "Traceback" not in result.output


def test_the_list_keeps_an_mlflow_experiments_runs_by_group(api: str) -> None:
    address = f"{api}/api/2.0/mlflow"
    with httpx.Client(base_url=address, headers=bearer()) as mlflow:  # as MLflow's client calls
        made = mlflow.post("/experiments/create", json={"name": "cli-group"}).json()
        body = {"experiment_id": made["experiment_id"], "run_name": "grouped"}
        run = mlflow.post("/runs/create", json=body).json()["run"]["info"]["run_id"]
    queued(api, "outside the group")
    listed = cli(api, "runs", "list", "--group", "cli-group", "--csv", "--columns", "id")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == ["id", run]
