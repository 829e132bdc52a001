"""deploy/compose.yaml against the compose specification (check-jsonschema's vendored copy of
it), its topology and commands against the CLI, its secrets required; HAProxy's configuration
checked by HAProxy itself (Debian's package) with a certificate made here; the Prometheus of
the compose file by promtool."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from azuraforge.platform.settings import Settings
from tests.deploy.commands import HEALTH_PATH, check_command, unknown_settings
from tests.deploy.test_rules import promtool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
HAPROXY = DEPLOY / "haproxy.cfg"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "TLS_PEM")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", schema,
               str(path)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_compose_file_holds_to_the_compose_specification() -> None:
    checked = check_jsonschema("vendor.compose-spec", COMPOSE)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_checker_refuses_what_the_specification_does_not_know(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("\n    deploy:\n", "\n    deploys:\n", 1))
    checked = check_jsonschema("vendor.compose-spec", broken)
    assert checked.returncode == 1 and "deploys" in checked.stdout


def test_three_api_replicas_two_worker_pools_and_their_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"migrate", "api", "worker", "haproxy", "postgres", "redis", "s3",
                             "prometheus"}  # fmt: skip
    assert services["api"]["deploy"]["replicas"] == 3
    assert services["worker"]["deploy"]["replicas"] == 2
    assert check_command(services["migrate"]["command"]) == "upgrade"
    assert check_command(services["api"]["command"]) == "serve"
    assert check_command(services["worker"]["command"]) == "worker"
    serve = services["api"]["command"]
    assert serve[serve.index("--workers") + 1] == "0"
    for name in ("api", "worker"):
        ready = services[name]["depends_on"]["migrate"]["condition"]
        assert ready == "service_completed_successfully"


def test_every_secret_is_required_and_none_has_a_default(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    secret = [m for m in re.finditer(r"\$\{(\w+)([^}]*)\}", text)
              if any(word in m[1] for word in SECRET_WORDS)]  # fmt: skip
    assert {m[1] for m in secret} >= {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "S3_ACCESS_KEY_ID",
                                      "S3_SECRET_ACCESS_KEY", "AZURAFORGE_METRICS_TOKEN",
                                      "AZURAFORGE_TLS_PEM"}  # fmt: skip
    assert [m[0] for m in secret if not m[2].startswith(":?set ")] == []
    # and no secret written as a value: each secret variable of a service comes from one
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if any(word in name for word in SECRET_WORDS) and "TLS_PEM" not in name:
                assert "${" in str(value), name


def test_prometheus_scrapes_with_deploys_rules(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    checked = promtool("check", "config", "--syntax-only", "compose.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "compose.yml").read_text())
    names = {c["names"][0] for job in scraped["scrape_configs"] for c in job["dns_sd_configs"]}
    assert names == {"api", "worker"} <= set(compose["services"])


def test_the_platforms_environment_is_settings_the_platform_reads(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment = compose["services"]["api"]["environment"]
    assert environment == compose["services"]["worker"]["environment"]
    assert unknown_settings(environment) == []
    given = {name: re.sub(r"\$\{(\w+)[^}]*\}", lambda m: f"given-{m[1].lower()}", value)
             for name, value in environment.items()}  # fmt: skip
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURAFORGE_METRICS_TOKEN", "m" * 64)  # given-... is too short
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path))
    settings = Settings()
    assert settings.transport == "celery" and settings.broker_url.startswith("redis://:given-")
    assert settings.database_url.startswith("postgresql://azuraforge:given-postgres_password@")
    assert settings.blob_store == "s3://azuraforge/blobs"
    assert settings.allowed_hosts == ["given-azuraforge_hostname"]
    address = compose["services"]["haproxy"]["networks"]["backend"]["ipv4_address"]
    assert settings.trusted_proxies == address


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate and its key in one PEM file, as HAProxy reads them."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=af.test", "-keyout", folder / "key.pem", "-out", folder / "cert.pem"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    pem = folder / "azuraforge.pem"
    pem.write_text((folder / "cert.pem").read_text() + (folder / "key.pem").read_text())
    return pem


def haproxy_check(pem: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["haproxy", "-c", "-f", str(HAPROXY)], capture_output=True, text=True,
                          env={"AZURAFORGE_TLS_PEM": str(pem), "PATH": "/usr/sbin:/usr/bin"},
                          timeout=60)  # fmt: skip


def test_haproxy_accepts_its_configuration_with_a_certificate(certificate: Path) -> None:
    checked = haproxy_check(certificate)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    missing = haproxy_check(certificate.with_name("absent.pem"))
    assert missing.returncode != 0 and "absent.pem" in missing.stdout + missing.stderr


def test_haproxy_checks_the_apis_health_and_terminates_tls(compose: dict[str, Any]) -> None:
    config = HAPROXY.read_text()
    assert f"uri {HEALTH_PATH} " in config
    assert re.search(r"bind :8443 ssl crt ", config)
    assert "server-template api- 3 api:8000" in config
    mounted = compose["services"]["haproxy"]["volumes"]
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in mounted
    # the certificate is mounted from the operator's file, never from this checkout
    assert not list(DEPLOY.rglob("*.pem")) and not list(DEPLOY.rglob("*.key"))
