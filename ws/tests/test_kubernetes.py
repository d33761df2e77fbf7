"""WebSockets in Kubernetes (ws/kustomization.yaml, a kustomize component): on each backend's
overlay, rendered and validated as kubernetes/tests do the base, and the Pod with its ws container
run by podman, its sockets echoing through nginx and told 1001 when the Pod stops."""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from websockets.sync.client import connect

import stackctl
from tests.checkov import accepted, failing, installed
from tests.e2e.stack import BACKENDS, ROOT, eventually
from tests.facts import feature_settings
from ws.check import RULES, problems
from ws.tests.test_websocket import ECHO, closed_codes

pytestmark = pytest.mark.skipif(
    not (ROOT / "kubernetes").is_dir(), reason="the Kubernetes feature is not there (kubernetes/ deleted)"
)


def kubernetes_tests(name: str) -> ModuleType:
    """A module of kubernetes/tests, by name: that feature may be deleted (the skip above)."""
    return importlib.import_module(f"kubernetes.tests.{name}")


def overlay(backend: str, directory: Path, components: tuple[str, ...] = ()) -> Path:
    """A kustomization of DIRECTORY: the backend's overlay with `components` (folders of the
    project) and this one, as a team's own overlay would add it."""
    directory.mkdir(parents=True, exist_ok=True)
    root = os.path.relpath(ROOT, directory)
    listed = ", ".join(f"{root}/{component}" for component in (*components, "ws"))
    (directory / "kustomization.yaml").write_text(f"resources: [{root}/kubernetes/{backend}]\ncomponents: [{listed}]\n")
    return directory


def documents(backend: str, directory: Path) -> dict[str, dict[str, Any]]:
    rendered = kubernetes_tests("pod").rendered(str(overlay(backend, directory)))
    return {document["kind"]: document for document in rendered if document["kind"] != "ConfigMap"} | {
        document["metadata"]["name"]: document for document in rendered if document["kind"] == "ConfigMap"
    }


def containers(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return {container["name"]: container for container in spec["initContainers"] + spec["containers"]}


def environment(container: dict[str, Any], settings: dict[str, str]) -> dict[str, str]:
    """What the container's processes see: the settings ConfigMap, then its own env over them."""
    seen = dict(settings)
    for entry in container.get("env", []):
        reference = entry.get("valueFrom", {}).get("configMapKeyRef")
        seen[entry["name"]] = settings[reference["key"]] if reference else entry["value"]
    return seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_component_validates_strictly_on_each_overlay(backend: str, tmp_path: Path) -> None:
    rendered = kubernetes_tests("pod").rendered(str(overlay(backend, tmp_path)))
    for version in kubernetes_tests("test_kubernetes").VERSIONS:
        for document in rendered:
            kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_ws_container_is_the_app_on_its_own_socket_with_no_timeout(backend: str, tmp_path: Path) -> None:
    found = documents(backend, tmp_path)
    (settings,) = (doc["data"] for name, doc in found.items() if name.startswith("stack-settings-"))
    assert feature_settings("ws").items() <= settings.items()
    pod = containers(found["Deployment"])
    ws, app = environment(pod["ws"], settings), environment(pod["app"], settings)
    assert pod["ws"]["image"] == pod["app"]["image"]
    # Its own socket and metrics port beside the app's, in the Pod's one network namespace.
    assert ws["APP_SOCKET"] == settings["WEBSOCKET_SOCKET"] != app.get("APP_SOCKET")
    assert ws["APP_METRICS_PORT"] != app.get("APP_METRICS_PORT", settings["APP_METRICS_PORT"])
    assert [port["containerPort"] for port in pod["ws"]["ports"]] == [int(ws["APP_METRICS_PORT"])]
    assert (ws["APP_TIMEOUT"], ws["APP_MAX_REQUESTS"], ws["APP_KEEPALIVE"]) == ("0", "0", "0")
    assert ws["APP_WORKER_CONNECTIONS"] == ws["APP_THREADS"] == settings["WEBSOCKET_THREADS"]
    # What the init container checks, the WebSocket rules mounted beside the stack's.
    mounts = {mount["mountPath"]: mount for mount in pod["config"]["volumeMounts"]}
    assert mounts[str(stackctl.CHECKS_DIR / "websocket.py")]["subPath"] == "check.py"
    checked = environment(pod["config"], settings)
    assert stackctl.problems(checked) == []
    assert problems(checked) == []
    # Its stop, as the app's: preStop, then its graceful stop, within the Pod's grace period.
    grace = found["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = int(pod["ws"]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pre_stop + int(ws["APP_GRACEFUL_TIMEOUT"]) < grace


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_ws_is_neither_restarted_nor_takes_the_pod_out_of_the_service(backend: str, tmp_path: Path) -> None:
    ws = containers(documents(backend, tmp_path)["Deployment"])["ws"]
    # Every thread holding a socket answers no probe: only the startup one, before any can.
    assert "startupProbe" in ws
    assert "livenessProbe" not in ws
    assert "readinessProbe" not in ws


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_ingress_never_cuts_a_tunnel_first_and_the_metrics_port_is_let_in(backend: str, tmp_path: Path) -> None:
    found = documents(backend, tmp_path)
    # The controller's timeouts are no shorter than any ping interval the check lets through:
    # a live socket always carries something before they run out.
    annotations = found["Ingress"]["metadata"]["annotations"]
    for name in ("proxy-read-timeout", "proxy-send-timeout"):
        timeout = int(annotations[f"nginx.ingress.kubernetes.io/{name}"])
        ping_interval = RULES["WEBSOCKET_PING_INTERVAL"]
        assert ping_interval(str(timeout)) is None
        assert ping_interval(str(timeout + 1)) is not None
    # The ws metrics port is let in where the app's is.
    (ws_port,) = containers(found["Deployment"])["ws"]["ports"]
    rules = found["NetworkPolicy"]["spec"]["ingress"]
    (metrics_rule,) = (rule for rule in rules if {"port": "metrics", "protocol": "TCP"} in rule["ports"])
    assert {"port": ws_port["name"], "protocol": "TCP"} in metrics_rule["ports"]


@pytest.mark.slow
def test_checkovs_findings_are_the_ones_the_kubernetes_and_ws_readmes_accept(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    scanned = tmp_path / "manifests"
    scanned.mkdir()
    for backend in BACKENDS:
        # As kubernetes/tests/test_checkov.py scans the base: with the database component too.
        kustomization = overlay(backend, tmp_path / backend, components=("kubernetes/database",))
        documents = kubernetes_tests("pod").rendered(str(kustomization))
        (scanned / f"{backend}.yaml").write_text(yaml.safe_dump_all(documents))
    found = failing(installed(tmp_path_factory), "kubernetes", scanned)
    readmes = accepted(ROOT / "kubernetes" / "README.md", "CKV_K8S") | accepted(ROOT / "ws" / "README.md", "CKV_K8S")
    assert set(found) == readmes, found


@pytest.fixture(scope="session")
def pod_images(images: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    conftest = kubernetes_tests("conftest")
    loaded: dict[str, str] = conftest.podman_images(tmp_path_factory)
    return loaded


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_pods_sockets_echo_through_nginx_and_get_1001_when_it_stops(
    backend: str, pod_images: dict[str, str], tmp_path: Path
) -> None:
    pod_module = kubernetes_tests("pod")
    kustomization = overlay(backend, tmp_path / "overlay")
    with pod_module.running_pod(backend, pod_images, tmp_path / "pod", overlay=kustomization) as pod:
        # Up once its startup probe passes, as the kubelet would see it (podman runs no probes).
        (ws_container,) = (name for name in pod.containers() if name.endswith("-ws"))
        health = functools.partial(pod_module.podman, "exec", ws_container, "stackctl", "health", check=False)
        assert eventually(health, lambda done: done.returncode == 0, 60, 0.5).returncode == 0, pod.logs()
        url = pod.url(ECHO).replace("http://", "ws://", 1)
        with contextlib.ExitStack() as exits:
            sockets = [exits.enter_context(connect(url, open_timeout=10, close_timeout=5)) for _ in range(3)]
            for ws in sockets:
                ws.send("through the Pod")
                assert ws.recv(timeout=10) == "through the Pod"
            # HTTP still goes to the app, beside them.
            assert pod.get("/healthz").json()["server"] == backend
            started = time.monotonic()
            pod.stop(40)
            assert closed_codes(sockets) == [1001] * 3, pod.logs()
            took = time.monotonic() - started
        states = {name.rsplit("-", 1)[1]: pod.state(name)["ExitCode"] for name in pod.containers()}
        assert states == {"app": 0, "nginx": 0, "ws": 0}, pod.logs()
        # The preStop sleep, then the sockets' close: not the grace period's end.
        assert took < 30, f"stopping took {took:.1f} s\n{pod.logs()}"
        assert re.search(rf"app: {backend} on /run/app/ws-\S+: workers=2 threads=32 .*timeout=0 ", pod.logs())
