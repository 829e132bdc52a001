"""The files of ``deploy/``, checked by the tools that read them: the alert rules by promtool
(their syntax and their unit tests, deploy/prometheus/alerts.test.yml), Prometheus's
configuration by promtool, and the Grafana dashboard against Grafana's own schema (the models
its Foundation SDK is generated from: a key the schema does not know is dropped on the way
through them)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "azuraforge.json"
PANEL_KINDS = {"timeseries", "stat", "row"}


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *arguments], capture_output=True, text=True,
                          cwd=DEPLOY / "prometheus", timeout=60)  # fmt: skip


def test_the_alert_rules_are_valid_and_pass_their_unit_tests() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (RULES.parent / "alerts.test.yml").read_text()))
    assert alerts == tested


def test_prometheus_configuration_is_valid() -> None:
    checked = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_holds_to_grafanas_schema() -> None:
    register_default_plugins()  # the Prometheus queries' own schema
    written = json.loads(DASHBOARD.read_text())
    through = json.loads(json.dumps(Dashboard.from_json(written), cls=JSONEncoder))
    assert _unknown(written, through) == []
    panels = written["panels"]
    assert {panel["type"] for panel in panels} <= PANEL_KINDS
    assert len({panel["id"] for panel in panels}) == len(panels)
    queries = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert queries and all("azuraforge_" in query or "up{" in query for query in queries)


def _unknown(written: Any, through: Any, path: str = "") -> list[str]:
    """The keys of ``written`` that ``through`` (the same, read by the schema) lost."""
    if isinstance(written, dict):
        return [found for key, value in written.items()
                for found in ([f"{path}/{key}"] if key not in through
                              else _unknown(value, through[key], f"{path}/{key}"))]  # fmt: skip
    if isinstance(written, list):
        return [found for n, (a, b) in enumerate(zip(written, through, strict=True))
                for found in _unknown(a, b, f"{path}[{n}]")]  # fmt: skip
    return []
