#!/opt/venv/bin/python
"""Validate the stack's settings before any server starts; one line per bad variable.

Run by the one-shot `config` service in compose.yaml, which every other service waits for:
a bad value stops `docker compose up` (and `make up-*`) at once with the variable's name,
instead of leaving a container in a restart loop. Prints the effective settings when all is well.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping

# nginx's upstream keepalive_timeout (nginx/templates/http.conf.template).
NGINX_UPSTREAM_KEEPALIVE = 15

# The uwsgi protocol frames a request's variables with a 16-bit length: nginx refuses (500) to
# send a bigger packet, and uWSGI's buffer-size cannot exceed it.
UWSGI_PACKET_MAX = 65535
# nginx's client_header_buffer_size, the buffer every request head starts in
# (nginx/templates/http.conf.template).
NGINX_FIRST_HEADER_BUFFER = 1024


def uwsgi_packet_bound(buffer: int, buffers: int, headers: int) -> int:
    """The largest uwsgi packet nginx can build from a head within its limits.

    Each header line becomes a variable at most 7 bytes longer ("a:" and a bare LF: 3 bytes, as
    "HTTP_A" with two 2-byte lengths: 10). Three values are sent twice, each at most a buffer
    long: the path and query (REQUEST_URI, and PATH_INFO or QUERY_STRING), the host (HTTP_HOST
    from $host, X-Forwarded-Host from the header), and CONTENT_TYPE. nginx's own variables
    (uwsgi_params, the X-Forwarded-* it sets, the request ID) take well under 1 KiB.
    """
    head = NGINX_FIRST_HEADER_BUFFER + buffers * buffer
    return head + 7 * headers + 3 * buffer + 1024


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


def proxies(value: str) -> str | None:
    """Empty, or comma-separated IP addresses or networks (CIDR), as nginx's set_real_ip_from takes them."""
    for item in filter(None, value.split(",")):
        try:
            ipaddress.ip_network(item.strip(), strict=True)
        except ValueError:
            return f"must be comma-separated addresses or networks like 10.0.0.0/8 ({item.strip()!r} is not one)"
    return None


def rate(value: str) -> str | None:
    """off, or an nginx request rate: requests per second or per minute."""
    if value == "off" or re.fullmatch(r"[1-9]\d{0,5}r/[sm]", value):
        return None
    return "must be off or a rate like 10r/s or 600r/m"


RULES: dict[str, Check] = {
    "APP_SERVER": one_of("uwsgi", "gunicorn"),
    "APP_WORKERS": either(one_of("auto"), whole(1, 256), "auto or a whole number from 1 to 256"),
    "APP_THREADS": whole(1, 256),
    "APP_BACKLOG": whole(16, 65535),
    "APP_TIMEOUT": whole(1, 3600),
    "APP_GRACEFUL_TIMEOUT": whole(1, 3600),
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
    # Gunicorn reads a request line of 8190 bytes at most; nginx's buffer holds the line's CRLF too.
    "REQUEST_HEAD_BUFFER": whole(1024, 8192),
    "REQUEST_HEAD_BUFFERS": whole(1, 64),
    "REQUEST_HEADERS_MAX": whole(16, 1000),
    "TRUSTED_PROXIES": proxies,
    "RATE_LIMIT": rate,
    "RATE_LIMIT_BURST": whole(1, 100_000),
    "CONN_LIMIT": either(one_of("off"), whole(1, 100_000), "off or a whole number from 1 to 100000"),
}


def seconds(value: str) -> int | None:
    """A compose duration such as 30s, 1m or 1m30s, in seconds; None if it is not one."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if not value or not match:
        return None
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


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
    # Docker's stop_grace_period, which compose.yaml owns and passes here: the servers' own
    # graceful stop must end first, or Docker's SIGKILL cuts what they were finishing.
    grace = seconds(environ.get("STOP_GRACE_PERIOD", ""))
    if grace is None:
        found.append(f"STOP_GRACE_PERIOD={environ.get('STOP_GRACE_PERIOD')!r} must be a time like 30s (compose.yaml)")
    elif int(environ["APP_GRACEFUL_TIMEOUT"]) >= grace:
        found.append(
            f"APP_GRACEFUL_TIMEOUT={environ['APP_GRACEFUL_TIMEOUT']!r} must be below the containers' "
            f"stop_grace_period ({grace} s), so the servers end their graceful stop before Docker's SIGKILL"
        )
    buffer, buffers = int(environ["REQUEST_HEAD_BUFFER"]), int(environ["REQUEST_HEAD_BUFFERS"])
    if (bound := uwsgi_packet_bound(buffer, buffers, int(environ["REQUEST_HEADERS_MAX"]))) > UWSGI_PACKET_MAX:
        found.append(
            f"REQUEST_HEAD_BUFFER={buffer}, REQUEST_HEAD_BUFFERS={buffers} and REQUEST_HEADERS_MAX="
            f"{environ['REQUEST_HEADERS_MAX']} let through request heads that uWSGI cannot take "
            f"(up to {bound} bytes as uwsgi variables, over its {UWSGI_PACKET_MAX}): lower one of them"
        )
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
