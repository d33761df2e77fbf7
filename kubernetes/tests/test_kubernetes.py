"""The Kubernetes manifests (kubernetes): rendered by kustomize, validated strictly against
the API schemas of the supported versions, and held to the invariants a real cluster would
otherwise reveal only in production: grace periods against the servers' graceful stop, probes
against the request timeout, UIDs and the socket path against the images, settings against
compose.yaml."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

import stackctl
from kubernetes.tests.pod import rendered
from tests.facts import ROOT, compose_defaults, dockerfile

OVERLAYS = ("uwsgi", "gunicorn")
# The Kubernetes minor versions the manifests are validated against: the supported releases and
# those managed offerings still run.
VERSIONS = ("1.31.0", "1.33.0", "1.35.0", "1.37.0")
# The most workers APP_WORKERS=auto starts (stackctl.workers), and what each may take.
MIB_PER_WORKER = 40


def resource(overlay: str, kind: str) -> dict[str, Any]:
    (found,) = (document for document in rendered(overlay) if document["kind"] == kind)
    return found


def pod(overlay: str) -> dict[str, Any]:
    spec: dict[str, Any] = resource(overlay, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(overlay: str, name: str) -> dict[str, Any]:
    spec = pod(overlay)
    (found,) = (c for c in spec["containers"] + spec["initContainers"] if c["name"] == name)
    assert isinstance(found, dict)
    return found


def settings(overlay: str) -> dict[str, str]:
    data: dict[str, str] = resource(overlay, "ConfigMap")["data"]
    return data


def stop_grace_period(overlay: str) -> str:
    """What the init container's check holds APP_GRACEFUL_TIMEOUT against."""
    env: dict[str, str] = {entry["name"]: entry["value"] for entry in container(overlay, "config")["env"]}
    return env["STOP_GRACE_PERIOD"]


def seconds(text: str) -> int:
    value = stackctl.seconds(text)
    assert value is not None, text
    return value


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_validate_strictly(overlay: str, version: str) -> None:
    for document in rendered(overlay):
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_settings_are_compose_yamls_names_and_defaults(overlay: str) -> None:
    compose = compose_defaults()
    # Only the backend, and the ingress controller's Pods as trusted proxies, differ.
    expected = {name: compose[name] for name in stackctl.RULES} | {"APP_SERVER": overlay}
    assert settings(overlay) == expected | {"TRUSTED_PROXIES": "10.244.0.0/16"}
    assert stackctl.proxies(settings(overlay)["TRUSTED_PROXIES"]) is None
    # The init container runs this check on them; here it must pass as the cluster would run it.
    stop = stop_grace_period(overlay)
    assert stackctl.problems({**settings(overlay), "STOP_GRACE_PERIOD": stop}) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_lets_nginx_go_first_and_the_app_drain_within_the_grace_period(overlay: str) -> None:
    spec = pod(overlay)

    def pre_stop(name: str) -> int:
        command = container(overlay, name)["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        return int(command[1])

    graceful = int(settings(overlay)["APP_GRACEFUL_TIMEOUT"])
    grace = spec["terminationGracePeriodSeconds"]
    # nginx stops taking requests before the app does, and the app outlives what nginx finishes.
    assert pre_stop("nginx") < pre_stop("app")
    # The app's preStop sleep, then its graceful stop, both before the kubelet's SIGKILL.
    assert pre_stop("app") + graceful < grace
    # What the config check holds APP_GRACEFUL_TIMEOUT against is what is left after preStop.
    stop = stop_grace_period(overlay)
    assert seconds(stop) == grace - pre_stop("app")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_busy_app_is_not_killed_by_its_liveness_probe(overlay: str) -> None:
    """Every worker on a request as long as the app may take (APP_TIMEOUT, then nginx's 5 s more)
    delays the health request that long: liveness must wait longer before restarting."""
    probe = container(overlay, "app")["livenessProbe"]
    allowed = int(settings(overlay)["APP_TIMEOUT"]) + 5
    assert probe["periodSeconds"] * probe["failureThreshold"] > allowed + probe["timeoutSeconds"]
    # nginx's liveness never depends on the app: an app restart must not restart nginx.
    assert "tcpSocket" in container(overlay, "nginx")["livenessProbe"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_uids_and_the_socket_are_the_images(overlay: str) -> None:
    spec = pod(overlay)
    assert spec["securityContext"]["fsGroup"] == int(dockerfile("APP_GID"))
    assert spec["securityContext"]["supplementalGroups"] == [int(dockerfile("APP_GID"))]
    for name, uid, gid in (
        ("app", "APP_UID", "APP_GID"),
        ("config", "APP_UID", "APP_GID"),
        ("nginx", "NGINX_UID", "NGINX_GID"),
    ):
        context = container(overlay, name)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (int(dockerfile(uid)), int(dockerfile(gid)))
    socket_dir = str(Path(dockerfile("APP_SOCKET")).parent)
    for name in ("app", "nginx"):
        mounts = {mount["name"]: mount["mountPath"] for mount in container(overlay, name)["volumeMounts"]}
        assert mounts["socket"] == socket_dir
    (volume,) = (v for v in spec["volumes"] if v["name"] == "socket")
    assert volume["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_metrics_port_is_declared_annotated_and_let_in(overlay: str) -> None:
    port = int(settings(overlay)["APP_METRICS_PORT"])
    assert {"name": "metrics", "containerPort": port} in container(overlay, "app")["ports"]
    annotations = resource(overlay, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    policy = resource(overlay, "NetworkPolicy")["spec"]
    allowed = [entry["port"] for rule in policy["ingress"] for entry in rule["ports"]]
    assert sorted(allowed) == ["http", "metrics"]
    # nginx's only port is still the public one; its status listener is a unix socket on an emptyDir.
    assert [entry["name"] for entry in container(overlay, "nginx")["ports"]] == ["http"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container(overlay, "nginx")["volumeMounts"]}
    assert mounts["nginx-status"] == dockerfile("NGINX_STATUS_DIR")
    (volume,) = (v for v in pod(overlay)["volumes"] if v["name"] == "nginx-status")
    assert volume["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_hardened_as_in_compose(overlay: str) -> None:
    spec = pod(overlay)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for each in spec["containers"] + spec["initContainers"]:
        context = each["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "memory" in each["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_app_memory_limit_holds_the_most_workers_auto_starts(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(256)))
    most = stackctl.workers("auto")
    limit = container(overlay, "app")["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") or limit.endswith("Mi")
    mib = int(limit[:-2]) * (1024 if limit.endswith("Gi") else 1)
    assert mib >= most * MIB_PER_WORKER


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_images_are_compose_yamls(overlay: str) -> None:
    compose = (ROOT / "compose.yaml").read_text()
    names = {name for name in re.findall(r"\$\{IMAGE_PREFIX:-([^}]+)\}/(\w+):", compose)}
    named = {
        tuple(c["image"].split(":")[0].split("/")) for c in pod(overlay)["containers"] + pod(overlay)["initContainers"]
    }
    assert named == names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rolling_updates_never_lower_capacity_and_pods_spread(overlay: str) -> None:
    deployment = resource(overlay, "Deployment")["spec"]
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod(overlay)["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert resource(overlay, "PodDisruptionBudget")["spec"]["minAvailable"] < deployment["replicas"]
    assert resource(overlay, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == deployment["replicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_ingress_controller_reaches_nginx_and_trusts_no_wider_network(overlay: str) -> None:
    """Any Pod that reaches nginx could name the client and scheme the app believes: only the
    controller's namespace may, and the trusted network is a Pod network, not all of 10/8."""
    (policy,) = (d for d in rendered(overlay) if d["kind"] == "NetworkPolicy")
    rules = {port["port"]: rule for rule in policy["spec"]["ingress"] for port in rule["ports"]}
    assert set(rules) == {"http", "metrics"}
    for port, namespace in (("http", "ingress-nginx"), ("metrics", "monitoring")):
        (source,) = rules[port]["from"]
        assert source == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}, port
    for network in settings(overlay)["TRUSTED_PROXIES"].split(","):
        assert ipaddress.ip_network(network).prefixlen >= 16, network


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_calls_out_to_the_clusters_dns_alone(overlay: str) -> None:
    (policy,) = (d for d in rendered(overlay) if d["kind"] == "NetworkPolicy")
    (rule,) = policy["spec"]["egress"]
    assert {(port["port"], port["protocol"]) for port in rule["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]


def with_database(overlay: str, tmp_path: Path) -> tuple[dict[str, Any], ...]:
    """kubernetes/OVERLAY with the database component (kubernetes/database), as an overlay of
    a fork's would add it."""
    kubernetes = os.path.relpath(ROOT / "kubernetes", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{kubernetes}/{overlay}]\ncomponents: [{kubernetes}/database]\n"
    )
    return rendered(str(tmp_path), "--load-restrictor", "LoadRestrictionsNone")


def test_migrations_run_in_each_new_pod_after_the_check_and_before_the_app() -> None:
    assert [c["name"] for c in pod("uwsgi")["initContainers"]] == ["config", "migrate"]
    assert container("uwsgi", "migrate")["args"] == ["migrate"]
    assert container("uwsgi", "migrate")["securityContext"] == container("uwsgi", "app")["securityContext"]
    # The app's readiness asks its database too; its liveness never does.
    assert container("uwsgi", "app")["readinessProbe"]["exec"]["command"] == ["stackctl", "health", "--ready"]
    assert container("uwsgi", "app")["livenessProbe"]["exec"]["command"] == ["stackctl", "health"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_database_comes_from_a_secret_as_a_file_and_is_the_one_egress_beside_dns(
    overlay: str, tmp_path: Path
) -> None:
    documents = with_database(overlay, tmp_path)
    for document in documents:
        kubernetes_validate.validate(document, VERSIONS[-1], strict=True)
    (deployment,) = (d for d in documents if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    for each in spec["initContainers"] + spec["containers"]:
        env = {entry["name"]: entry for entry in each.get("env", [])}
        mounts = {mount["mountPath"]: mount for mount in each.get("volumeMounts", [])}
        if each["name"] == "nginx":
            assert not {name for name in env if name.startswith("DATABASE")}
            continue
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "stack-database", "key": "url"}
        assert env["DATABASE_PASSWORD_FILE"]["value"] == "/run/secrets/database/password"
        assert "DATABASE_PASSWORD" not in env
        assert mounts["/run/secrets/database"] == {
            "name": "database",
            "mountPath": "/run/secrets/database",
            "readOnly": True,
        }
    (volume,) = (v for v in spec["volumes"] if v["name"] == "database")
    # The app's group reads it (the Pod's fsGroup), nobody else.
    assert volume["secret"]["defaultMode"] == 0o440
    assert spec["securityContext"]["fsGroup"] == int(dockerfile("APP_GID"))
    (policy,) = (d for d in documents if d["kind"] == "NetworkPolicy")
    egress = policy["spec"]["egress"]
    assert all(rule.get("to") for rule in egress), egress
    assert [sorted(port["port"] for port in rule["ports"]) for rule in egress] == [[53, 53], [5432]]
    assert "DATABASE_PASSWORD" not in {key for d in documents if d["kind"] == "ConfigMap" for key in d["data"]}


def test_every_settings_file_is_what_make_k8s_settings_writes() -> None:
    # kubernetes/settings.py by name: `kubernetes` here is this folder, not the client library.
    spec = importlib.util.spec_from_file_location("k8s_settings", ROOT / "kubernetes" / "settings.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, values in module.files().items():
        assert path.read_text() == module.text(values), f"{path.relative_to(ROOT)} is stale: make k8s-settings"
