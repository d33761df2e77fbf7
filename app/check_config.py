#!/opt/venv/bin/python
"""Validate the stack's settings before any server starts; one line per bad variable.

Run by the one-shot `config` service in compose.yaml, which every other service waits for:
a bad value stops `docker compose up` (and `make up-*`) at once with the variable's name,
instead of leaving a container in a restart loop. Prints the effective settings when all is well.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping

# The app container's stop_grace_period in compose.yaml: the graceful timeout must end first.
STOP_GRACE_PERIOD = 30
# nginx's upstream keepalive_timeout (nginx/templates/default.conf.template).
NGINX_UPSTREAM_KEEPALIVE = 15

Check = Callable[[str], str | None]


def whole(low: int, high: int) -> Check:
    def check(value: str) -> str | None:
        if re.fullmatch(r"\d+", value) and low <= int(value) <= high:
            return None
        return f"must be a whole number from {low} to {high}"

    return check


def one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else "must be " + " or ".join(choices)

    return check


def either(first: Check, second: Check, description: str) -> Check:
    def check(value: str) -> str | None:
        return None if first(value) is None or second(value) is None else f"must be {description}"

    return check


def size(value: str) -> str | None:
    """nginx size syntax, as client_max_body_size takes it (and the app's parse_size)."""
    return None if re.fullmatch(r"\d+[kKmMgG]?", value) else "must be a size like 10m, 512k or a byte count"


def duration(value: str) -> str | None:
    """nginx time syntax, as `expires` takes it, or one of its keywords."""
    if value in ("off", "max", "epoch") or re.fullmatch(r"(\d+(ms|[smhdwMy])?)+", value):
        return None
    return "must be an nginx time like 30m, 1h or 7d, or off, max or epoch"


def timeout(value: str) -> str | None:
    """nginx time syntax for a timeout: at least a second, at most an hour."""
    match = re.fullmatch(r"(\d+)(s|m)?", value)
    if match and 1 <= int(match.group(1)) * (60 if match.group(2) == "m" else 1) <= 3600:
        return None
    return "must be an nginx time from 1s to 60m, like 10s or 2m"


def prefix(value: str) -> str | None:
    """Empty (serve at /), or a path like /myapp: no trailing slash, nothing nginx would read."""
    if value == "" or re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
        return None
    return "must be empty or a path like /myapp (letters, digits, . _ ~ -; no trailing slash)"


RULES: dict[str, Check] = {
    "APP_SERVER": one_of("uwsgi", "gunicorn"),
    "APP_WORKERS": either(one_of("auto"), whole(1, 256), "auto or a whole number from 1 to 256"),
    "APP_THREADS": whole(1, 256),
    "APP_BACKLOG": whole(16, 65535),
    "APP_TIMEOUT": whole(1, 3600),
    "APP_GRACEFUL_TIMEOUT": whole(1, STOP_GRACE_PERIOD - 1),
    "APP_KEEPALIVE": whole(NGINX_UPSTREAM_KEEPALIVE + 1, 3600),
    "APP_MAX_REQUESTS": whole(0, 1_000_000_000),
    "APP_MAX_REQUESTS_JITTER": whole(0, 1_000_000_000),
    "APP_PIDS_LIMIT": whole(16, 1_000_000),
    "CLIENT_TIMEOUT": timeout,
    "MAX_BODY_SIZE": size,
    "STATIC_MAX_AGE": duration,
    "LOG_FORMAT": one_of("json", "text"),
    "APP_ACCESS_LOG": one_of("on", "off"),
    "APP_PREFIX": prefix,
    "APP_RELOAD": one_of("on", "off"),
    "TLS": one_of("on", "off"),
}


def workers(setting: str) -> int:
    """The number of worker processes APP_WORKERS means (app/docker-entrypoint.sh: auto)."""
    if setting == "auto":
        return min(2 * len(os.sched_getaffinity(0)) + 1, 17)
    return int(setting)


def problems(environ: Mapping[str, str]) -> list[str]:
    """One message per setting that is missing or out of range, then per bad combination."""
    found = []
    for name, check in RULES.items():
        value = environ.get(name)
        if value is None:
            found.append(f"{name} is not set")
        elif (reason := check(value)) is not None:
            found.append(f"{name}={value!r} {reason}")
    if found:
        return found
    # Every thread is a task in the container's pids cgroup: a worker has its threads, the main
    # one and one of the server's; the master and healthchecks need a few more. Past the limit
    # a worker cannot start its threads, and it fails at boot or on its first request.
    count, threads = workers(environ["APP_WORKERS"]), int(environ["APP_THREADS"])
    needed = count * (threads + 2) + 8
    if needed > int(environ["APP_PIDS_LIMIT"]):
        found.append(
            f"APP_PIDS_LIMIT={environ['APP_PIDS_LIMIT']} is too low for {count} workers x {threads} threads "
            f"(needs at least {needed})"
        )
    return found


def main() -> int:
    found = problems(os.environ)
    for message in found:
        print(f"config: {message}", file=sys.stderr)
    if found:
        return 78  # EX_CONFIG
    print("config: " + " ".join(f"{name}={os.environ[name]}" for name in RULES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
