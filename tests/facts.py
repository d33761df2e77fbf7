"""The project's facts, read where they are owned, for every test that checks something against
them: the Dockerfile's build arguments and environment, and compose.yaml's defaults."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dockerfile(name: str) -> str:
    """An ARG default or an ENV value of the Dockerfile (the fixed UIDs and GIDs, APP_SOCKET)."""
    match = re.search(rf"^(?:ARG |ENV |\t){name}=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"the Dockerfile sets no {name}"
    return match.group(1)


def compose_defaults(file: str = "compose.yaml") -> dict[str, str]:
    """Every ${NAME:-default} in a compose file (compose.yaml, the owner), as {NAME: default}."""
    return dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (ROOT / file).read_text()))
