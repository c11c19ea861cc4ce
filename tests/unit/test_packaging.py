"""Docker Compose files, checked offline (no Docker engine here).

Both files and their merge validate against the Compose Specification JSON schema, vendored at
tests/schemas/compose-spec.json (compose-spec/compose-spec, schema/compose-spec.json, commit
00655e2222608fa6eaecdf12ac5195889ca2244a); then the rules the schema cannot express: healthchecks,
`service_healthy` dependencies, memory limits, restart, log rotation, hardening, and one block per
registered service. Dockerfile and Kubernetes checks live in test_packaging_{dockerfile,k8s}.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.settings import PlatformSettings
from shared.stack.registry import SERVICES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text("utf-8"))
# The schema declares draft-07 by a URL jsonschema does not map, so name the draft explicitly.
assert "draft-07" in SCHEMA["$schema"]
jsonschema.Draft7Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
BASE = ROOT / "compose.yaml"
OVERLAY = ROOT / "compose.observability.yaml"
# Images built FROM scratch: no shell or HTTP client to run a probe inside the container.
NO_PROBE_IMAGES = ("otel/opentelemetry-collector-contrib",)
ENV = {
    "AUTH_JWT_SECRET": "test-secret",
    "ADMIN_TOKEN": "test-admin",
    "IDENTITY_KEYS": "k1:x",
    "MINIO_ROOT_PASSWORD": "test-minio",
}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def file_names(files: tuple[Path, ...]) -> str:
    return "+".join(f.name for f in files)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms these files use)."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and unset:
            raise KeyError(f"required variable {name}: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return value or ""

    return VAR.sub(one, node)


def merge(base: Any, over: Any) -> Any:
    """`docker compose -f a -f b`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return over


def model(*paths: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        merged = merge(merged, load(path))
    result = interpolate(merged, ENV)
    assert isinstance(result, dict)
    return result


def app_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items() if "build" in svc}


def healthcheck_enabled(svc: dict[str, Any]) -> bool:
    check = svc.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


@pytest.mark.parametrize("files", [(BASE,), (OVERLAY,), (BASE, OVERLAY)], ids=file_names)
def test_files_validate_against_the_compose_specification(files: tuple[Path, ...]) -> None:
    # Checked as written and as compose sees it after merging and interpolation.
    docs = [load(files[0])] if len(files) == 1 else []
    for doc in [*docs, model(*files)]:
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(doc)
        ]
        assert errors == []


def test_the_schema_rejects_what_compose_rejects() -> None:
    # Guards the guard: a vendored schema that accepted anything would make the test above vacuous.
    doc = model(BASE)
    doc["services"]["gateway"]["restart_policy"] = "always"
    doc["services"]["kafka"]["depends_on"] = {"mongo": {"condition": "when_ready"}}
    failing = {list(e.absolute_path)[1] for e in VALIDATOR.iter_errors(doc)}
    assert failing == {"gateway", "kafka"}


def test_required_secrets_stop_compose_instead_of_running_without_auth() -> None:
    raw = load(BASE)
    for name in ("AUTH_JWT_SECRET", "ADMIN_TOKEN", "IDENTITY_KEYS", "MINIO_ROOT_PASSWORD"):
        with pytest.raises(KeyError, match=name):
            interpolate(raw, {k: v for k, v in ENV.items() if k != name})


@pytest.mark.parametrize("files", [(BASE,), (BASE, OVERLAY)], ids=file_names)
def test_every_service_is_healthchecked_limited_restarted_and_rotates_logs(
    files: tuple[Path, ...],
) -> None:
    services = model(*files)["services"]
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        if image.startswith(NO_PROBE_IMAGES):
            assert svc["healthcheck"] == {"disable": True}, name
        else:
            assert healthcheck_enabled(svc), f"{name}: no healthcheck"
        memory = svc.get("mem_limit") or svc.get("deploy", {}).get("resources", {}).get(
            "limits", {}
        ).get("memory")
        assert memory, f"{name}: no memory limit"
        assert svc.get("restart") in {"always", "unless-stopped", "on-failure"}, name
        logging = svc["logging"]
        assert logging["driver"] == "json-file", name
        assert {"max-size", "max-file"} <= set(logging["options"]), name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert healthcheck_enabled(services[dep]), f"{name} waits on {dep}, never healthy"


def test_app_services_are_built_hardened_and_wired_to_the_platform() -> None:
    doc = model(BASE)
    grace = PlatformSettings().shutdown_grace_seconds
    apps = app_services(doc)
    assert set(apps) == {entry.name for entry in SERVICES}
    for entry in SERVICES:
        svc = apps[entry.name]
        assert svc["build"]["dockerfile"] == "Dockerfile"
        assert svc["build"]["args"] == {"SERVICE": entry.name}
        assert svc["read_only"] is True
        assert any(t.startswith("/tmp") for t in svc["tmpfs"])
        assert svc["cap_drop"] == ["ALL"]
        assert set(svc["depends_on"]) == {"kafka", "mongo"}
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["MONGODB_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"
        assert env["AUTH_JWT_SECRET"] == ENV["AUTH_JWT_SECRET"]
        assert env["IDENTITY_KEYS"] == ENV["IDENTITY_KEYS"]  # one value for every service
        assert env[f"{entry.prefix}HOST"] == "0.0.0.0"
        assert str(env[entry.port_env]) == str(entry.port)
        assert f"{entry.port}:{entry.port}" in svc["ports"]
        if entry.admin_port_env:
            assert str(env[entry.admin_port_env]) == str(entry.admin_port)
            admin = [p for p in svc["ports"] if str(p).endswith(f":{entry.admin_port}")]
            assert admin == [f"127.0.0.1:{entry.admin_port}:{entry.admin_port}"]
        stop = re.fullmatch(r"(\d+)s", svc["stop_grace_period"])
        assert stop is not None
        assert int(stop.group(1)) > grace


def test_app_services_share_the_x_service_template() -> None:
    raw = load(BASE)
    template = raw["x-service"]
    for name, svc in app_services(raw).items():
        for key, value in template.items():
            assert svc[key] == value, f"{name}.{key} differs from x-service"
    assert "<<: *service" in BASE.read_text("utf-8")


def test_kafka_is_kraft_and_mongo_a_replica_set() -> None:
    services = load(BASE)["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    mongo = services["mongo"]
    assert mongo["image"].startswith("mongo:7")
    assert mongo["command"][:2] == ["--replSet", "rs0"]
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])


def test_observability_overlay_sends_every_service_through_the_collector_to_jaeger() -> None:
    doc = model(BASE, OVERLAY)
    for name, svc in app_services(doc).items():
        assert svc["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert "otel-collector" not in svc.get("depends_on", {}), name
    assert "127.0.0.1:16686:16686" in doc["services"]["jaeger"]["ports"]
    mount = doc["services"]["otel-collector"]["volumes"][0]
    source, target = mount.split(":")[:2]
    config = load(ROOT / source)
    assert f"--config={target}" in doc["services"]["otel-collector"]["command"]

    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(config.get(kind) or {}), kind
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    (exporter,) = pipelines["traces"]["exporters"]
    assert exporter.split("/")[0] == "otlp"
    assert config["exporters"][exporter]["endpoint"] == "jaeger:4317"
