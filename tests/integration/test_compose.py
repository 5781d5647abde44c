"""The production stack as files: docker-compose.yml, the Dockerfile, Prometheus and Grafana
provisioning. No Docker engine is needed: `docker-compose config` (Debian's docker-compose, v1)
validates and resolves the file on its own, and the tests read what it printed.

Why these checks: the stack is never started in CI, so a wrong port, a typo in a FIELDSTREAM_
variable (pydantic-settings ignores unknown ones) or an install step that drifted from the
README would only show on an operator's machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from core.settings import GatewaySettings, Settings, SinkSettings, StreamSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (
    "CLICKHOUSE_PASSWORD",
    "GRAFANA_CLICKHOUSE_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "DEAD_LETTER_KEY",
)
FIELDSTREAM_SERVICES = {"migrate", "gateway", "stream", "quality", "sink"}
LONG_RUNNING = {
    "kafka",
    "schema-registry",
    "clickhouse",
    "gateway",
    "stream",
    "quality",
    "sink",
    "prometheus",
    "grafana",
}
# service -> (port its /healthz and /metrics answer on, the settings default it must equal)
SERVICE_PORTS = {
    "gateway": GatewaySettings().port,
    "stream": StreamSettings().web_port,
    "sink": SinkSettings().query_port,
}
PINNED = re.compile(r"^[a-z0-9./-]+:v?\d+(\.\d+){2,}(-[a-z0-9.-]+)?$")


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose config` with exactly ``env`` as the .env file (none of the
    stack's variables leak in from the caller's environment)."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(
            "docker-compose is not installed: `apt-get install docker-compose` "
            "(.ci/run installs it; the production stack must validate in CI)"
        )
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in SECRETS and not k.startswith(("FIELDSTREAM_", "COMPOSE_", "GRAFANA_"))
    }
    return subprocess.run(
        [exe, "--env-file", str(env_file), "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack as docker-compose resolved it (anchors merged, variables substituted)."""
    tmp = tmp_path_factory.mktemp("compose")
    done = compose_config(tmp, {name: f"test-{name.lower()}" for name in SECRETS})
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert isinstance(resolved, dict)
    return resolved


def test_config_lists_the_whole_stack(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert set(services) == LONG_RUNNING | {"migrate", "writeback"}
    # the write-back to VAN runs only with its profile on (an org must configure it first)
    assert services["writeback"]["profiles"] == ["writeback"]
    assert services["writeback"]["command"] == ["python", "-m", "sinks.writeback"]
    assert "writeback-data" in str(services["writeback"]["volumes"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["schema-registry"]["image"].startswith("confluentinc/cp-schema-registry:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    plugin = services["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    assert re.fullmatch(r"grafana-clickhouse-datasource \d+\.\d+\.\d+", plugin), plugin


def test_third_party_images_are_pinned_to_exact_tags(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        if name in FIELDSTREAM_SERVICES:
            continue
        assert PINNED.match(service["image"]), f"{name}: {service['image']} is not an exact tag"
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base is not None and re.match(r"^python:3\.11\.\d+-", base.group(1)), base


def test_fieldstream_services_are_one_image_with_different_commands(
    stack: dict[str, Any],
) -> None:
    services = stack["services"]
    ours = [services[name] for name in sorted(FIELDSTREAM_SERVICES)]
    assert len({s["image"] for s in ours}) == 1
    assert all(s["build"]["dockerfile"] == "Dockerfile" for s in ours)
    commands = {name: " ".join(services[name]["command"]) for name in FIELDSTREAM_SERVICES}
    assert len(set(commands.values())) == len(commands)
    assert commands["gateway"] == "python -m producers.gateway"
    assert commands["stream"] == "python -m streams"
    assert commands["sink"] == "python -m sinks"
    assert commands["quality"] == "python -m streams.quality"
    assert "fieldstream migrate" in commands["migrate"]
    assert services["migrate"]["restart"] == "no"


def test_long_running_services_have_health_checks(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"] and not check.get("disable"), name
    for name, port in SERVICE_PORTS.items():
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in probe, (name, probe)


def test_start_order_waits_for_health(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            assert cond["condition"] in {"service_healthy", "service_completed_successfully"}
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits on {dep}, which has none"
    for name in ("gateway", "stream", "sink"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["schema-registry"]["condition"] == "service_healthy"
    assert set(services["migrate"]["depends_on"]) == {"kafka", "clickhouse"}


def test_state_lives_in_named_volumes(stack: dict[str, Any]) -> None:
    mounts = {
        "kafka": "/var/lib/kafka/data",
        "clickhouse": "/var/lib/clickhouse",
        "stream": "/var/lib/fieldstream",
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
    }
    named = set(stack["volumes"])
    for service, target in mounts.items():
        sources = {
            v.split(":")[0] for v in stack["services"][service]["volumes"] if f":{target}" in v
        }
        assert sources and sources <= named, f"{service}:{target} is not on a named volume"
    assert stack["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"] == mounts["kafka"]
    assert stack["services"]["stream"]["environment"]["FIELDSTREAM_DATA_DIR"] == mounts["stream"]


def _field_for(model: type[BaseModel], path: list[str]) -> bool:
    """True when the nested settings path (lower-cased env parts) names a real field."""
    head, *rest = path
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    inner = field.annotation
    return isinstance(inner, type) and issubclass(inner, BaseModel) and _field_for(inner, rest)


def test_services_read_only_fieldstream_settings(stack: dict[str, Any]) -> None:
    """Every variable given to our services is a real setting (a typo would be ignored
    silently by pydantic-settings), and the settings they add up to load."""
    for name in FIELDSTREAM_SERVICES:
        env = stack["services"][name]["environment"]
        assert env, name
        for key in env:
            assert key.startswith("FIELDSTREAM_"), f"{name} reads {key}, not a setting"
            parts = key.removeprefix("FIELDSTREAM_").lower().split("__")
            assert _field_for(Settings, parts), f"{key} is not a field of core.settings"
    env = {k: str(v) for k, v in stack["services"]["sink"]["environment"].items()}
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("FIELDSTREAM_")}
    try:
        os.environ.update(env)
        settings = Settings()
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)
    assert settings.kafka.schema_registry_url == "http://schema-registry:8081"
    assert settings.clickhouse.dsn.get_secret_value().startswith("http://fieldstream:")
    assert settings.stream.voter_store == "rocksdb"
    assert settings.sink.query_api is False  # no query door where ClickHouse is the door


def test_only_the_front_doors_publish_ports(stack: dict[str, Any]) -> None:
    """The gateway (senders) and Grafana (organizers) have host ports; the sink, ClickHouse,
    Kafka and the rest are reachable only inside the stack's network."""
    published = {name for name, svc in stack["services"].items() if svc.get("ports")}
    assert published == {"gateway", "grafana"}


def test_a_missing_secret_stops_config(tmp_path: Path) -> None:
    env = {name: "x" for name in SECRETS if name != "CLICKHOUSE_PASSWORD"}
    done = compose_config(tmp_path, env)
    assert done.returncode != 0
    assert "CLICKHOUSE_PASSWORD" in done.stderr


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for sc in job["static_configs"]
        for target in sc["targets"]
    }
    for name, port in SERVICE_PORTS.items():
        assert f"{name}:{port}" in targets, name


def test_grafana_provisioning_matches_the_stack(stack: dict[str, Any]) -> None:
    prov = ROOT / "grafana" / "provisioning"
    sources = {
        ds["uid"]: ds
        for path in sorted((prov / "datasources").glob("*.yaml"))
        for ds in yaml.safe_load(path.read_text())["datasources"]
    }
    assert set(sources) == {"clickhouse", "prometheus"}
    ch = sources["clickhouse"]
    assert ch["type"] == "grafana-clickhouse-datasource"
    assert ch["jsonData"]["host"] in stack["services"]
    assert (
        ch["jsonData"]["defaultDatabase"]
        == (stack["services"]["clickhouse"]["environment"]["CLICKHOUSE_DB"])
    )
    password_var = ch["secureJsonData"]["password"].strip("${}")
    assert password_var in stack["services"]["grafana"]["environment"]
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    providers = [
        p
        for path in sorted((prov / "dashboards").glob("*.yaml"))
        for p in yaml.safe_load(path.read_text())["providers"]
    ]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in stack["services"]["grafana"]["volumes"]}
    for provider in providers:
        source = mounts[provider["options"]["path"]]
        assert Path(source) == ROOT / "grafana" / "dashboards"
    assert Path(mounts["/etc/grafana/provisioning"]) == prov


def dockerfile_runs() -> list[str]:
    """The Dockerfile's RUN instructions, continuations joined, whitespace normalised."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [
        " ".join(line.split()[1:])
        for line in text.splitlines()
        if line.strip().upper().startswith("RUN ")
    ]


def readme_production_commands() -> list[str]:
    """Shell commands in the README's Production section's bash blocks (comments dropped,
    `&&` chains split)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.splitlines():
            code = line.split(" #", 1)[0].strip()
            commands += [" ".join(c.split()) for c in code.split("&&") if c.strip()]
    return commands


def test_dockerfile_installs_as_the_readme_says() -> None:
    """The image's install steps are exactly the README's: every pip install in the
    Dockerfile appears word for word in the README's Production section and back, and it
    installs the project itself (pyproject.toml is the one list of dependencies)."""
    docker_pips = [
        step.strip() for run in dockerfile_runs() for step in run.split("&&") if "pip " in step
    ]
    readme_pips = [c for c in readme_production_commands() if "pip " in c]
    assert docker_pips, "no pip install in the Dockerfile"
    assert sorted(docker_pips) == sorted(readme_pips)
    for step in docker_pips:
        args = [a for a in shlex.split(step)[2:] if not a.startswith("-")]
        assert args == ["."], f"{step!r} installs something besides the project"


def test_dockerfile_copies_every_package() -> None:
    """`pip install .` in the image sees every package pyproject.toml ships."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    packages = [p.rstrip("*") for p in find["include"]]
    copied = {
        source.removeprefix("./")
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for name in [*packages, "pyproject.toml", "README.md"]:
        assert name in copied, f"the Dockerfile does not COPY {name}"
        assert name not in ignored, f".dockerignore hides {name}"
