"""docker-compose.yml and platform/Dockerfile, checked without a container engine.

Debian's docker-compose v1 (installed by `make setup`) validates and resolves the compose file
(`docker-compose config`); the assertions run on its resolved output, so they see what compose
would run: interpolated variables, merged anchors, profiles, normalised ports.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.servers  # needs Debian's docker-compose (installed by `make test`)

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "platform" / "Dockerfile"

# Variables compose requires (`${VAR:?message}`), with values that show up if they leak anywhere.
REQUIRED = {
    "POSTGRES_SUPERUSER_PASSWORD": "dummy-pg-superuser-password",
    "DAGSTER_PG_PASSWORD": "dummy-dagster-pg-password",
    "MARQUEZ_DB_PASSWORD": "dummy-marquez-db-password",
    "AWS_ACCESS_KEY_ID": "dummy-access-key",
    "AWS_SECRET_ACCESS_KEY": "dummy-secret-key",
    "GRAFANA_ADMIN_PASSWORD": "dummy-grafana-admin-password",
}
SECRETS = ["POSTGRES_SUPERUSER_PASSWORD", "DAGSTER_PG_PASSWORD", "MARQUEZ_DB_PASSWORD", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "GRAFANA_ADMIN_PASSWORD"]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN|API_KEY", re.IGNORECASE)
PLATFORM_SERVICES = {"codelocation", "webserver", "daemon", "spark-master", "spark-worker", "spark-connect",
                     "objectstore"}


def _compose_env(**overrides: str) -> dict[str, str]:
    """A clean environment: only PATH/HOME and what the test sets, so nothing from the
    developer's shell (a real LAKEHOUSE_* or password) changes the outcome."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(REQUIRED)
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose (Debian's v1) is not installed: run `make test` (it installs it)"
    return subprocess.run([binary, "-f", str(COMPOSE_FILE), *args], cwd=REPO_ROOT, env=env or _compose_env(),
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict:
    """The resolved configuration, with every profile (spark-connect included)."""
    quiet = _compose("config", "-q")
    assert quiet.returncode == 0, quiet.stderr
    resolved = _compose("--profile", "connect", "config")
    assert resolved.returncode == 0, resolved.stderr
    return yaml.safe_load(resolved.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _ports(service: dict) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def test_services_and_their_dependencies(config):
    services = config["services"]
    assert set(services) == {"postgres", "objectstore", "spark-master", "spark-worker",
                             "spark-connect", "codelocation", "webserver", "daemon", "marquez-api", "marquez-web",
                             "pushgateway", "prometheus", "grafana"}
    depends = {name: {dep: spec["condition"] for dep, spec in s.get("depends_on", {}).items()}
               for name, s in services.items()}
    assert depends["codelocation"] == {"postgres": "service_healthy", "spark-master": "service_healthy",
                                       "objectstore": "service_healthy",
                                       "marquez-api": "service_started"}
    for name in ("webserver", "daemon"):
        assert depends[name] == {"postgres": "service_healthy", "codelocation": "service_healthy"}
    assert depends["spark-worker"] == {"spark-master": "service_healthy"}
    assert depends["spark-connect"] == {"spark-master": "service_healthy"}
    assert depends["marquez-api"] == {"postgres": "service_healthy"}
    assert depends["marquez-web"] == {"marquez-api": "service_healthy"}
    # Connect starts only with `--profile connect`; the standalone master is the default Spark
    assert services["spark-connect"]["profiles"] == ["connect"]
    assert all("profiles" not in s for name, s in services.items() if name != "spark-connect")


def test_published_ports_bind_to_loopback_by_default(config):
    services = config["services"]
    assert _ports(services["webserver"]) == ["127.0.0.1:3000:3000/tcp"]
    assert _ports(services["marquez-api"]) == ["127.0.0.1:5000:5000/tcp"]
    assert _ports(services["marquez-web"]) == ["127.0.0.1:3001:3000/tcp"]  # Dagster has 3000
    assert _ports(services["grafana"]) == ["127.0.0.1:3002:3000/tcp"]
    assert _ports(services["prometheus"]) == ["127.0.0.1:9090:9090/tcp"]
    assert _ports(services["pushgateway"]) == ["127.0.0.1:9091:9091/tcp"]
    for name, service in services.items():
        for port in _ports(service):
            assert port.startswith("127.0.0.1:"), (name, port)
    for name in ("postgres", "codelocation", "daemon", "spark-worker"):
        assert not _ports(services[name]), f"{name} is reachable only inside the compose network"
    # opening up is an explicit choice
    opened = yaml.safe_load(_compose("config", env=_compose_env(LAKEHOUSE_BIND_ADDRESS="0.0.0.0",
                                                                DAGSTER_WEBSERVER_PORT="8300")).stdout)
    assert _ports(opened["services"]["webserver"]) == ["0.0.0.0:8300:3000/tcp"]


def test_platform_services_are_built_from_the_hardened_dockerfile(config):
    services = config["services"]
    built = {name for name, s in services.items() if "build" in s}
    assert built == PLATFORM_SERVICES
    for name in built:
        build = services[name]["build"]
        assert Path(build["context"]) == REPO_ROOT, name
        assert build["dockerfile"] == "platform/Dockerfile", name
        assert services[name]["image"] == "lakehouse-platform:local", name
    # the images compose pulls are pinned to a version, never latest
    for name in set(services) - built:
        image = services[name]["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?", image), (name, image)
    assert services["marquez-api"]["image"].startswith("marquezproject/marquez:")
    assert services["marquez-web"]["image"].startswith("marquezproject/marquez-web:")


def test_every_long_running_service_has_a_healthcheck(config):
    for name, service in config["services"].items():
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL") and not check.get("disable"), name
    assert config["services"]["codelocation"]["healthcheck"]["test"] == [
        "CMD", "dagster", "api", "grpc-health-check", "-p", "4000"]
    assert config["services"]["daemon"]["healthcheck"]["test"] == ["CMD", "dagster-daemon", "liveness-check"]


def test_commands_are_the_ones_the_tests_run_natively(config):
    services = config["services"]
    assert services["codelocation"]["command"] == [
        "dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-f", "platform/definitions.py", "-d", "/app"]
    assert services["webserver"]["command"] == [
        "dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "platform/workspace.grpc.yaml"]
    assert services["daemon"]["command"] == ["dagster-daemon", "run", "-w", "platform/workspace.grpc.yaml"]
    workspace = yaml.safe_load((REPO_ROOT / "platform" / "workspace.grpc.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"] == {
        "host": {"env": "DAGSTER_CODE_SERVER_HOST"}, "port": {"env": "DAGSTER_CODE_SERVER_PORT"},
        "location_name": "lakehouse"}
    for name in ("codelocation", "webserver", "daemon"):
        env = services[name]["environment"]
        assert (env["DAGSTER_CODE_SERVER_HOST"], env["DAGSTER_CODE_SERVER_PORT"]) == ("codelocation", "4000")
    # the start script tests/servers/object_store.py runs: S3Proxy with the bucket created first
    assert services["objectstore"]["command"] == ["platform/objectstore/start.sh"]
    assert services["objectstore"]["environment"]["S3PROXY_DATA_DIR"] == "/data"
    master = services["spark-master"]["command"]
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    worker = services["spark-worker"]["command"]
    assert worker[:3] == ["spark-class", "org.apache.spark.deploy.worker.Worker", "spark://spark-master:7077"]
    # the start script tests/servers/spark.py runs: Delta, s3a, keys only in the environment
    assert services["spark-connect"]["command"] == ["platform/spark/connect-server.sh"]
    assert services["spark-connect"]["environment"]["SPARK_CONNECT_MASTER"] == "spark://spark-master:7077"


def test_dagster_instance_and_lineage_wiring(config):
    services = config["services"]
    for name in ("codelocation", "webserver", "daemon"):
        service = services[name]
        assert service["environment"]["DAGSTER_HOME"] == "/opt/dagster/home"
        mounts = service["volumes"]
        assert any(str(m).endswith(":/opt/dagster/home/dagster.yaml:ro") and "platform/dagster.cluster.yaml" in str(m)
                   for m in mounts), (name, mounts)
        assert services[name]["environment"]["DAGSTER_PG_HOST"] == "postgres"
    code = services["codelocation"]["environment"]
    assert code["LAKEHOUSE_ENV"] == "cluster"
    assert code["LAKEHOUSE_SPARK_MASTER"] == "spark://spark-master:7077" and code["LAKEHOUSE_SPARK_REMOTE"] == ""
    assert code["LAKEHOUSE_S3_ENDPOINT"] == "http://objectstore:9000"
    assert (code["LAKEHOUSE_LINEAGE"], code["OPENLINEAGE_URL"]) == ("http", "http://marquez-api:5000")
    marquez = services["marquez-api"]["environment"]
    postgres = services["postgres"]["environment"]
    assert (marquez["POSTGRES_HOST"], marquez["POSTGRES_DB"], marquez["POSTGRES_USER"]) == (
        "postgres", postgres["MARQUEZ_DB"], postgres["MARQUEZ_DB_USER"])
    assert marquez["MARQUEZ_CONFIG"] == "/opt/lakehouse/marquez.yml"
    assert services["marquez-web"]["environment"]["MARQUEZ_HOST"] == "marquez-api"
    # Connect instead of the standalone master is configuration only
    connect = yaml.safe_load(_compose("config", env=_compose_env(
        LAKEHOUSE_SPARK_MASTER="", LAKEHOUSE_SPARK_REMOTE="sc://spark-connect:15002")).stdout)
    env = connect["services"]["codelocation"]["environment"]
    assert (env["LAKEHOUSE_SPARK_MASTER"], env["LAKEHOUSE_SPARK_REMOTE"]) == ("", "sc://spark-connect:15002")


def test_monitoring_wiring(config):
    """The code location pushes to the Pushgateway, Prometheus scrapes it with the platform's config,
    Grafana gets its data source and dashboard from platform/grafana; the alert webhook is optional."""
    services = config["services"]
    code = services["codelocation"]["environment"]
    assert code["LAKEHOUSE_PUSHGATEWAY_URL"] == "http://pushgateway:9091"
    assert code["LAKEHOUSE_ALERT_WEBHOOK_URL"] == ""  # unset: no alerts, and no default for a secret
    hooked = yaml.safe_load(_compose("config", env=_compose_env(
        LAKEHOUSE_ALERT_WEBHOOK_URL="https://hooks.example.com/services/T/B/x")).stdout)
    assert hooked["services"]["codelocation"]["environment"]["LAKEHOUSE_ALERT_WEBHOOK_URL"].startswith("https://hooks.")
    prometheus = yaml.safe_load((REPO_ROOT / "platform" / "prometheus" / "prometheus.yml").read_text())
    (scrape,) = prometheus["scrape_configs"]
    assert scrape["honor_labels"] is True and scrape["static_configs"] == [{"targets": ["pushgateway:9091"]}]
    assert any(str(v).endswith(":/etc/prometheus/prometheus.yml:ro") and "platform/prometheus/prometheus.yml" in str(v)
               for v in services["prometheus"]["volumes"])
    assert services["prometheus"]["depends_on"] == {"pushgateway": {"condition": "service_healthy"}}
    grafana = services["grafana"]
    mounts = [str(v) for v in grafana["volumes"]]
    assert any("platform/grafana/provisioning" in m and m.endswith(":/etc/grafana/provisioning:ro") for m in mounts)
    assert any("platform/grafana/dashboards" in m and m.endswith(":/var/lib/grafana/dashboards:ro") for m in mounts)
    datasource = yaml.safe_load((REPO_ROOT / "platform" / "grafana" / "provisioning" / "datasources" /
                                 "prometheus.yml").read_text())["datasources"][0]
    assert (datasource["type"], datasource["url"]) == ("prometheus", "http://prometheus:9090")
    provider = yaml.safe_load((REPO_ROOT / "platform" / "grafana" / "provisioning" / "dashboards" /
                               "lakehouse.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (REPO_ROOT / "platform" / "grafana" / "dashboards" / "lakehouse.json").is_file()


def test_secrets_come_only_from_the_environment(config, raw):
    # in the file: every secret-looking value is a required variable, never a literal or a default
    def walk(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, (*path, str(i)))
        else:
            yield path, node

    for path, value in walk(raw):
        if path and SECRET_NAME.search(path[-1]) and "environment" in path:
            assert re.fullmatch(r"\$\{([A-Z_]+):\?[^}]+\}", str(value)), (path, value)
    # resolved: the values are the ones the environment gave, and only where they are needed
    services = config["services"]
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert value in REQUIRED.values(), (name, key)
    assert "AWS_SECRET_ACCESS_KEY" not in services["webserver"]["environment"]
    assert "AWS_SECRET_ACCESS_KEY" not in services["daemon"]["environment"]
    assert "DAGSTER_PG_PASSWORD" not in services["spark-worker"]["environment"]
    assert "DAGSTER_PG_PASSWORD" not in services["marquez-api"]["environment"]
    # and compose refuses to start without each of them, naming it
    for name in SECRETS:
        missing = _compose("config", "-q", env=_compose_env(**{name: None}))
        assert missing.returncode != 0 and f"set {name}" in missing.stderr, (name, missing.stderr[-300:])
    # the config files the containers mount carry no secret either
    marquez = (REPO_ROOT / "platform" / "marquez.yml").read_text()
    assert "password: ${POSTGRES_PASSWORD}" in marquez
    init = (REPO_ROOT / "platform" / "postgres" / "create-databases.sh").read_text()
    assert "\\getenv dagster_password DAGSTER_PG_PASSWORD" in init and "PASSWORD=" not in init


# -- the image ------------------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in DOCKERFILE.read_text().splitlines()
                                           if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip()]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_dockerfile_base_is_pinned():
    instructions = _instructions()
    args = dict(a.split("=", 1) for i, a in instructions if i == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    froms = [a.split()[0] for i, a in instructions if i == "FROM"]
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_dockerfile_runtime_is_unprivileged_and_health_checked():
    *_, runtime = _stages()
    users = [a for i, a in runtime if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert [i for i, _ in runtime].index("USER") > max(
        n for n, (i, _) in enumerate(runtime) if i in ("RUN", "COPY")), "USER comes after every RUN and COPY"
    (healthcheck,) = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert "grpc-health-check" in healthcheck and "CMD" in healthcheck
    run = " ".join(a for i, a in runtime if i == "RUN")
    assert "openjdk-17-jre-headless" in run and "maven" not in run  # Maven only at build time
    assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists" in run


def test_dockerfile_build_installs_the_pins_and_fetches_jars_with_maven():
    build, _ = _stages()
    run = " ".join(a for i, a in build if i == "RUN")
    assert "maven" in run
    assert "pip install --constraint requirements.lock ." in run
    assert "python platform/jars.py fetch" in run
    env = " ".join(a for i, a in _instructions() if i in ("ENV", "ARG"))
    assert not SECRET_NAME.search(env), "no credentials baked into the image"


def test_dockerignore_is_an_allow_list():
    lines = [l.strip() for l in (REPO_ROOT / ".dockerignore").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert lines[0] == "*"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    assert allowed == {"pyproject.toml", "requirements.lock", "README.md", "workspace.yaml", "assets", "resources",
                       "sensors", "datagen", "platform"}
