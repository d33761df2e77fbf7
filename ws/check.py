"""ws/compose.yaml's settings, checked by `stackctl check` with the stack's own before
anything starts (the overlay mounts this file into the config service's /opt/stack/checks/)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from stackctl import rule_problems, size, tasks_needed, whole

# An origin as a browser sends it (RFC 6454, 6.1): scheme, host and a port if not the scheme's
# own, lower case, nothing after.
ORIGIN = re.compile(r"https?://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")


def origins(value: str) -> str | None:
    """Empty, *, or comma-separated origins."""
    listed = [item.strip() for item in value.split(",") if item.strip()]
    if listed == ["*"]:
        return None
    for item in listed:
        if not ORIGIN.fullmatch(item):
            return f"must be * or comma-separated origins like https://app.example.com ({item!r} is not one)"
    return None


RULES = {
    "WEBSOCKET_IDLE_TIMEOUT": whole(2, 86_400),
    "WEBSOCKET_PING_INTERVAL": whole(1, 86_400),
    "WEBSOCKET_MAX_MESSAGE": size,
    "WEBSOCKET_WORKERS": whole(1, 256),
    "WEBSOCKET_THREADS": whole(1, 1024),
    "WEBSOCKET_ORIGINS": origins,
}


def ws_tasks_needed(workers: int, threads: int) -> int:
    """The tasks the ws service takes with every socket open: each holds two threads, the
    server's, in its handler, and simple-websocket's reader."""
    return tasks_needed(workers, 2 * threads)


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
    if not found and environ.get("APP_PIDS_LIMIT", "").isdigit():
        # The ws service runs under the app's pids limit (it extends the app service).
        needed = ws_tasks_needed(int(environ["WEBSOCKET_WORKERS"]), int(environ["WEBSOCKET_THREADS"]))
        if needed > int(environ["APP_PIDS_LIMIT"]):
            found.append(
                f"APP_PIDS_LIMIT={environ['APP_PIDS_LIMIT']} is too low for the ws service's "
                f"WEBSOCKET_WORKERS={environ['WEBSOCKET_WORKERS']} x WEBSOCKET_THREADS="
                f"{environ['WEBSOCKET_THREADS']} (needs at least {needed})"
            )
    return found
