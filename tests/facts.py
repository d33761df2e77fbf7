"""The project's facts, read where they are owned, for every test that checks something against
them: the Dockerfile's build arguments and environment, and compose.yaml's defaults."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def dockerfile(name: str) -> str:
    """An ARG default or an ENV value of the Dockerfile (the fixed UIDs and GIDs, APP_SOCKET)."""
    match = re.search(rf"^(?:ARG |ENV |\t){name}=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"the Dockerfile sets no {name}"
    return match.group(1)


def compose_defaults(file: str = "compose.yaml") -> dict[str, str]:
    """Every ${NAME:-default} in a compose file (compose.yaml, the owner), as {NAME: default}."""
    return dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (ROOT / file).read_text()))


def feature_settings(feature: str) -> dict[str, str]:
    """An optional feature's settings: what its compose.yaml gives the config check (stackctl
    check, with the feature's own rules), each ${NAME:-default} as its default."""
    environment = yaml.safe_load((ROOT / feature / "compose.yaml").read_text())["services"]["config"]["environment"]
    return {name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)) for name, value in environment.items()}
