"""Write kubernetes/base/settings.env, the Pod's ConfigMap, from compose.yaml's defaults for every
setting stackctl checks (kustomize cannot run this: the file is committed, and
kubernetes/tests/test_kubernetes.py fails when it is stale). The overlays and the ingress
component change what differs in a cluster (the backend, the trusted proxies).

    python3 kubernetes/settings.py        (make k8s-settings)
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "runtime")]

import stackctl  # noqa: E402
from tests.facts import compose_defaults  # noqa: E402

defaults = compose_defaults()
lines = [f"{name}={defaults[name]}" for name in sorted(stackctl.RULES)]
(ROOT / "kubernetes" / "base" / "settings.env").write_text("\n".join(lines) + "\n")
