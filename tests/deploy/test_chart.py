"""The Helm chart (deploy/helm/azuraforge/), rendered offline by Helm itself (Helm 4's Go SDK,
PyPI's helm-python-sdk: no cluster, no helm binary) and linted by it; every manifest checked
against Kubernetes' own schemas (kubernetes-validate, strict: an unknown field fails) at the
oldest and the newest version the chart declares it supports; its secrets required, and what
its containers run checked against the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy.commands import HEALTH_PATH, check_command, unknown_settings
from tests.deploy.test_rules import DASHBOARD, RULES

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "azuraforge"
KUBERNETES = ("1.27.0", kubernetes_validate.latest_version())
"""The oldest Kubernetes the chart accepts (its kubeVersion) and the newest with schemas."""

SECRETS = {
    "databaseUrl": "postgresql://azuraforge:pw@db.internal:5432/azuraforge",
    "brokerUrl": "redis://:pw@redis.internal:6379/0",
    "s3AccessKeyId": "AKIAEXAMPLE",
    "s3SecretAccessKey": "s" * 40,
    "metricsToken": "m" * 64,
}
VALUES: dict[str, Any] = {
    "secrets": SECRETS,
    "settings": {"blobStore": "s3://azuraforge/blobs", "s3Endpoint": "http://s3.internal:8333"},
    "ingress": {"host": "af.example.org", "tlsSecretName": "af-tls"},
}
"""The least a release must be given: every one of these is required."""


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    helm.disable_logging()  # its notes that files/ holds links, on stderr
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifests of a release ``af`` in namespace ``ml``, as Helm renders them."""
    rendered = chart.render(values=values, name="af", namespace="ml", is_install=True)
    return [document for name, text in sorted(rendered.items()) if name.endswith(".yaml")
            for document in yaml.safe_load_all(text) if document]  # fmt: skip


@pytest.fixture(scope="module")
def manifests(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, VALUES)


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_the_chart_renders_what_a_deployment_needs(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(f"{m['kind']}/{m['metadata']['name']}" for m in manifests)
    assert kinds == [
        "ConfigMap/af-azuraforge-alert-rules",
        "ConfigMap/af-azuraforge-dashboard",
        "Deployment/af-azuraforge-api",
        "Deployment/af-azuraforge-worker",
        "Ingress/af-azuraforge",
        "Job/af-azuraforge-migrate",
        "PodDisruptionBudget/af-azuraforge-api",
        "PodDisruptionBudget/af-azuraforge-worker",
        "Secret/af-azuraforge",
        "Service/af-azuraforge",
    ]


@pytest.mark.parametrize("version", KUBERNETES)
def test_every_manifest_holds_to_kubernetes_schemas(
    manifests: list[dict[str, Any]], version: str
) -> None:
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_validator_refuses_a_field_kubernetes_does_not_know(
    manifests: list[dict[str, Any]],
) -> None:
    deployment = json.loads(json.dumps(by_kind(manifests, "Deployment")["af-azuraforge-api"]))
    deployment["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(deployment, KUBERNETES[-1], strict=True)


def test_helm_lint_finds_nothing_to_fix() -> None:
    report = helm.lint(CHART, VALUES, strict=True, kube_version=f"v{KUBERNETES[0]}")
    assert report["errors"] == []
    # severity 1 is information ("icon is recommended"); 2 a warning, 3 an error
    assert [m for m in report["messages"] if m["severity"] > 1] == []


@pytest.mark.parametrize(
    ("key", "named"),
    [*((("secrets", key), f"secrets.{key}") for key in SECRETS),
     (("settings", "blobStore"), "settings.blobStore"),
     (("ingress", "host"), "ingress.host"),
     (("ingress", "tlsSecretName"), "ingress.tlsSecretName")],
)  # fmt: skip
def test_the_chart_renders_nothing_without_each_required_value(
    chart: helm.Chart, key: tuple[str, str], named: str
) -> None:
    values = json.loads(json.dumps(VALUES))
    del values[key[0]][key[1]]
    with pytest.raises(helm.HelmRenderError, match=f"{named} is required"):
        render(chart, values)


def test_no_secret_has_a_default(chart: helm.Chart) -> None:
    assert set(chart.values["secrets"]) == set(SECRETS)
    assert all(value == "" for value in chart.values["secrets"].values())


def test_a_short_metrics_token_is_refused(chart: helm.Chart) -> None:
    values = json.loads(json.dumps(VALUES))
    values["secrets"]["metricsToken"] = "too-short"
    with pytest.raises(helm.HelmRenderError, match="9 characters, at least 32"):
        render(chart, values)


def test_every_secret_reference_names_a_key_of_the_secret(
    manifests: list[dict[str, Any]],
) -> None:
    secret = by_kind(manifests, "Secret")["af-azuraforge"]
    for container in _containers(manifests):
        assert unknown_settings({variable["name"]: "" for variable in container["env"]}) == []
        for variable in container["env"]:
            if "valueFrom" in variable:
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["name"] == secret["metadata"]["name"]
                assert reference["key"] in secret["data"]


def test_the_secret_and_migrations_come_before_the_deployments(
    manifests: list[dict[str, Any]],
) -> None:
    secret = by_kind(manifests, "Secret")["af-azuraforge"]["metadata"]["annotations"]
    job = by_kind(manifests, "Job")["af-azuraforge-migrate"]
    hook = job["metadata"]["annotations"]
    assert secret["helm.sh/hook"] == hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert check_command(container["args"]) == "upgrade"


def test_the_containers_run_commands_of_the_cli(manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(manifests, "Deployment")
    api = deployments["af-azuraforge-api"]
    worker = deployments["af-azuraforge-worker"]
    assert api["spec"]["replicas"] == 3 and worker["spec"]["replicas"] == 2
    (serve,) = api["spec"]["template"]["spec"]["containers"]
    (pool,) = worker["spec"]["template"]["spec"]["containers"]
    assert check_command(serve["args"]) == "serve"
    assert check_command(pool["args"]) == "worker"
    assert serve["args"][serve["args"].index("--workers") + 1] == "0"
    assert serve["readinessProbe"]["httpGet"]["path"] == HEALTH_PATH
    for container in (serve, pool):
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["livenessProbe"]


def test_pods_run_as_the_images_user_and_budgets_keep_replicas(
    manifests: list[dict[str, Any]],
) -> None:
    for deployment in by_kind(manifests, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        budget = by_kind(manifests, "PodDisruptionBudget")[deployment["metadata"]["name"]]
        selector = budget["spec"]["selector"]["matchLabels"]
        assert selector == deployment["spec"]["selector"]["matchLabels"]
        assert 0 < budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_ingress_serves_tls_to_the_service(manifests: list[dict[str, Any]]) -> None:
    ingress = by_kind(manifests, "Ingress")["af-azuraforge"]["spec"]
    assert ingress["tls"] == [{"hosts": ["af.example.org"], "secretName": "af-tls"}]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = by_kind(manifests, "Service")[backend["name"]]["spec"]
    assert backend["port"]["name"] in {port["name"] for port in service["ports"]}


def test_the_monitoring_configmaps_are_deploys_own_files(
    manifests: list[dict[str, Any]],
) -> None:
    maps = by_kind(manifests, "ConfigMap")
    rules = maps["af-azuraforge-alert-rules"]["data"]["alerts.yml"]
    dashboard = maps["af-azuraforge-dashboard"]["data"]["azuraforge.json"]
    assert yaml.safe_load(rules) == yaml.safe_load(RULES.read_text())
    assert json.loads(dashboard) == json.loads(DASHBOARD.read_text())


def _containers(manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "Job"):
            yield from manifest["spec"]["template"]["spec"]["containers"]
