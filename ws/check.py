"""ws/compose.yaml's settings, checked by `stackctl check` with the stack's own before
anything starts (the overlay mounts this file into the config service's /opt/stack/checks/)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from stackctl import rule_problems, size, whole

RULES = {
    "WEBSOCKET_IDLE_TIMEOUT": whole(2, 86_400),
    "WEBSOCKET_PING_INTERVAL": whole(1, 86_400),
    "WEBSOCKET_MAX_MESSAGE": size,
    "WEBSOCKET_WORKERS": whole(1, 256),
    "WEBSOCKET_THREADS": whole(1, 1024),
}


def problems(environ: Mapping[str, str]) -> list[str]:
    """One message per bad setting."""
    found = rule_problems(RULES, environ)
    # Under APP_PREFIX, beside the app's routes: a path of its own, never the whole site.
    path = environ.get("WEBSOCKET_PATH", "")
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+/", path):
        found.append(f"WEBSOCKET_PATH={path!r} must be a path like /ws/ (letters, digits, . _ ~ -; a trailing slash)")
    if not found and int(environ["WEBSOCKET_PING_INTERVAL"]) >= int(environ["WEBSOCKET_IDLE_TIMEOUT"]):
        found.append(
            f"WEBSOCKET_PING_INTERVAL={environ['WEBSOCKET_PING_INTERVAL']} must be below WEBSOCKET_IDLE_TIMEOUT="
            f"{environ['WEBSOCKET_IDLE_TIMEOUT']}: nginx would close an idle socket before its ping"
        )
    return found
