"""Write kubernetes/base/settings.env, the Pod's ConfigMap, from compose.yaml's defaults for every
setting stackctl checks (kustomize cannot run this: the file is committed, and
kubernetes/tests/test_kubernetes.py fails when it is stale). The overlays and the ingress
component change what differs in a cluster (the backend, the trusted proxies).

An optional feature with a kustomize component (FEATURE/kubernetes/) gets its own
FEATURE/kubernetes/settings.env the same way: what its compose.yaml gives the config check.

    python3 kubernetes/settings.py        (make k8s-settings)
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "runtime")]

import stackctl  # noqa: E402
from tests.facts import compose_defaults, feature_settings  # noqa: E402


def files() -> dict[Path, dict[str, str]]:
    """Each settings file, and what it holds."""
    defaults = compose_defaults()
    found = {ROOT / "kubernetes" / "base" / "settings.env": {name: defaults[name] for name in stackctl.RULES}}
    for folder in sorted(path.parent for path in ROOT.glob("*/kubernetes")):
        found[folder / "kubernetes" / "settings.env"] = feature_settings(folder.name)
    return found


def text(settings: dict[str, str]) -> str:
    return "".join(f"{name}={settings[name]}\n" for name in sorted(settings))


if __name__ == "__main__":
    for path, settings in files().items():
        path.write_text(text(settings))
