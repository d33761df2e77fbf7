#!/opt/venv/bin/python
"""The app container's runtime: every fact about how the WSGI server runs, in one place.

    stackctl serve      start the server APP_SERVER names (uwsgi or gunicorn) as PID 1
    stackctl check      validate every setting, one line per bad variable (the `config` service)
    stackctl health     the container healthcheck: /healthz over this container's own socket
    stackctl publish    point APP_SOCKET, where nginx connects, at this container's socket
    stackctl published  whether APP_SOCKET points at this container's socket (exit status)
    stackctl drain      wait until no connection is queued on this container's socket
    stackctl static DIR copy the app's static files to DIR, for nginx (a build step)
    stackctl metrics    serve every worker's metrics on APP_METRICS_PORT (runtime/stack_metrics.py;
                        a daemon of uWSGI's master: stackctl serve)
    stackctl stop-bound kill the workers uWSGI's master still waits for APP_GRACEFUL_TIMEOUT s into
                        its graceful stop (runtime/stack_stop.py; a daemon of it: uwsgi/uwsgi.ini)
    stackctl CMD ...    anything else runs as given: docker compose run app python -m ...

Standard library only: `health` runs every second, and must start fast.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import shutil
import socket
import struct
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

SERVERS = ("uwsgi", "gunicorn")
# The stack's own route, answered by the machinery for any app (runtime/stack_wsgi.py).
HEALTH_PATH = "/healthz"
# Readiness: 200 when the app could serve a request that needs its database too (DATABASE_URL),
# 503 when not (runtime/stack_database.py). Kubernetes' readinessProbe asks it; HEALTH_PATH stays
# liveness and never touches the database, so an outage restarts nothing.
READY_PATH = "/readyz"
# A container publishes its socket once (below): this file, on the container's own tmpfs,
# says it has. A server's graceful reload keeps it; a new container starts without it.
PUBLISHED_MARK = Path("/tmp/stack-socket-published")
# Headers nginx adds to the client's own (uwsgi_params, X-Forwarded-*, the request ID): fewer
# than this, so each server takes REQUEST_HEADERS_MAX + this many (nginx/templates/*.conf).
NGINX_ADDED_HEADERS = 64

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


def tasks_needed(count: int, threads: int) -> int:
    """The tasks a server of `count` workers of `threads` threads takes in its container's pids
    cgroup (APP_PIDS_LIMIT): a worker has its threads, the main one and one of the server's; the
    master and healthchecks need a few more. Past the limit a worker cannot start its threads,
    and it fails at boot or on its first request."""
    return count * (threads + 2) + 8


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


# nginx size syntax, as client_max_body_size takes it.
SIZE = re.compile(r"(\d+)([kKmMgG]?)")
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size(value: str) -> str | None:
    return None if SIZE.fullmatch(value) else "must be a size like 10m, 512k or a byte count"


def parse_size(value: str) -> int:
    """Convert an nginx size (``10m``, ``512k``, ``1048576``) to bytes."""
    match = SIZE.fullmatch(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (expected e.g. 10m, 512k or a byte count)")
    return int(match.group(1)) * SIZE_UNITS[match.group(2).lower()]


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


# A host name as nginx's hostnames map takes it: a name, *.name or .name (the name and every name
# under it), or an IPv4 address.
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"(\*\.|\.)?({LABEL}\.)*{LABEL}", re.IGNORECASE)


def host_names(value: str) -> str | None:
    """Empty (any name), or comma-separated host names."""
    for item in filter(None, (item.strip() for item in value.split(","))):
        if not HOST_NAME.fullmatch(item):
            return f"must be comma-separated host names like example.com or *.example.com ({item!r} is not one)"
    return None


def serves(names: str, host: str) -> bool:
    """Whether SERVER_NAMES (`names`) lets `host` through, as nginx's hostnames map matches it."""
    host = host.lower()
    listed = [name.strip().lower() for name in names.split(",") if name.strip()]
    if not listed:
        return True
    return any(
        host == name
        or (name.startswith("*.") and host.endswith(name[1:]))
        or (name.startswith(".") and (host == name[1:] or host.endswith(name)))
        for name in listed
    )


def database_url(value: str) -> str | None:
    """Empty (no database), or a SQLAlchemy URL without a password (DATABASE_PASSWORD_FILE holds it)."""
    match = re.fullmatch(r"([a-z][a-z0-9+]*)://([^@/]*@)?[^\s]*", value)
    if not value:
        return None
    if not match:
        return "must be empty or a URL like postgresql+psycopg://app@/app?host=/run/postgresql"
    if ":" in (match.group(2) or ""):
        return "must not hold the password: put it in a file and set DATABASE_PASSWORD_FILE"
    return None


def database_connections(environ: Mapping[str, str]) -> int:
    """The most connections the app can hold at once: a pool of APP_THREADS per process (every
    worker, and the master should the app query at import), twice over while `make reload` runs
    the old and the new container, plus the migrations' two (their lock, their work) and
    DATABASE_OTHER_CONNECTIONS."""
    processes = workers(environ["APP_WORKERS"]) + 1
    return 2 * processes * int(environ["APP_THREADS"]) + 2 + int(environ["DATABASE_OTHER_CONNECTIONS"])


def rate(value: str) -> str | None:
    """off, or an nginx request rate: requests per second or per minute."""
    if value == "off" or re.fullmatch(r"[1-9]\d{0,5}r/[sm]", value):
        return None
    return "must be off or a rate like 10r/s or 600r/m"


RULES: dict[str, Check] = {
    "APP_SERVER": one_of(*SERVERS),
    "APP_WORKERS": either(one_of("auto"), whole(1, 256), "auto or a whole number from 1 to 256"),
    "APP_THREADS": whole(1, 256),
    "APP_BACKLOG": whole(16, 65535),
    "APP_TIMEOUT": whole(1, 3600),
    "APP_GRACEFUL_TIMEOUT": whole(1, 3600),
    "APP_KEEPALIVE": whole(NGINX_UPSTREAM_KEEPALIVE + 1, 3600),
    "APP_MAX_REQUESTS": whole(0, 1_000_000_000),
    "APP_MAX_REQUESTS_JITTER": whole(0, 1_000_000_000),
    "APP_PIDS_LIMIT": whole(16, 1_000_000),
    "APP_METRICS": one_of("on", "off"),
    "APP_METRICS_PORT": whole(1024, 65535),
    "CLIENT_TIMEOUT": timeout,
    "MAX_BODY_SIZE": size,
    "STATIC_MAX_AGE": duration,
    "LOG_FORMAT": one_of("json", "text"),
    "APP_ACCESS_LOG": one_of("on", "off"),
    "APP_PREFIX": prefix,
    "APP_RELOAD": one_of("on", "off"),
    # Gunicorn reads a request line of 8190 bytes at most; nginx's buffer holds the line's CRLF too.
    "REQUEST_HEAD_BUFFER": whole(1024, 8192),
    "REQUEST_HEAD_BUFFERS": whole(1, 64),
    "REQUEST_HEADERS_MAX": whole(16, 1000),
    "TRUSTED_PROXIES": proxies,
    "SERVER_NAMES": host_names,
    "RATE_LIMIT": rate,
    "RATE_LIMIT_BURST": whole(1, 100_000),
    "CONN_LIMIT": either(one_of("off"), whole(1, 100_000), "off or a whole number from 1 to 100000"),
    "DATABASE_URL": database_url,
    "DATABASE_MAX_CONNECTIONS": whole(1, 262_143),
    "DATABASE_OTHER_CONNECTIONS": whole(0, 262_143),
    "DATABASE_TIMEOUT": whole(1, 300),
}


def loopback(address: str) -> bool:
    """Whether a bind address is the host's loopback alone."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def seconds(value: str) -> int | None:
    """A compose duration such as 30s, 1m or 1m30s, in seconds; None if it is not one."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value)
    if not value or not match:
        return None
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def workers(setting: str) -> int:
    """The number of worker processes APP_WORKERS means.

    auto: 2 x CPUs + 1 (each serves one request at a time with the default APP_THREADS=1), at
    most 17 so that the default APP_MEMORY_LIMIT holds them on a big host.
    """
    if setting == "auto":
        return min(2 * len(os.sched_getaffinity(0)) + 1, 17)
    return int(setting)


def rule_problems(rules: Mapping[str, Check], environ: Mapping[str, str]) -> list[str]:
    """One message per setting of `rules` that is missing or out of range (an app's check may
    call this with rules of its own, made with the helpers above)."""
    found = []
    for name, check in rules.items():
        value = environ.get(name)
        if value is None:
            found.append(f"{name} is not set")
        elif (reason := check(value)) is not None:
            found.append(f"{name}={value!r} {reason}")
    return found


def secret_problems(names: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """One message per secret that does not come from a readable file: NAME_FILE names it (a
    Compose secret, a Kubernetes Secret's volume), and NAME itself is not set, since a value in
    the environment shows in `docker inspect`, in a ConfigMap, in a crash dump (an app's check
    may call this; the app reads the file)."""
    found = []
    for name in names:
        path = environ.get(f"{name}_FILE")
        if name in environ:
            found.append(f"{name} must come from a file: set {name}_FILE to its path, not {name}")
        elif not path:
            found.append(f"{name}_FILE is not set: the path of the file that holds {name}")
        elif not os.access(path, os.R_OK) or not Path(path).is_file() or not Path(path).stat().st_size:
            found.append(f"{name}_FILE={path!r} is not a readable file with {name} in it")
    return found


def problems(environ: Mapping[str, str]) -> list[str]:
    """One message per setting that is missing or out of range, then per bad combination."""
    if found := rule_problems(RULES, environ):
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
    # Flask's debug mode (compose.dev.yaml) answers errors with their traceback: for this host alone.
    if environ.get("FLASK_DEBUG", "0") not in ("", "0") and not loopback(environ.get("HTTP_BIND", "127.0.0.1")):
        found.append(
            f"HTTP_BIND={environ['HTTP_BIND']!r} with development mode (FLASK_DEBUG) would serve tracebacks to "
            "anyone who reaches it: development mode binds to 127.0.0.1 (make dev-* does)"
        )
    buffer, buffers = int(environ["REQUEST_HEAD_BUFFER"]), int(environ["REQUEST_HEAD_BUFFERS"])
    if (bound := uwsgi_packet_bound(buffer, buffers, int(environ["REQUEST_HEADERS_MAX"]))) > UWSGI_PACKET_MAX:
        found.append(
            f"REQUEST_HEAD_BUFFER={buffer}, REQUEST_HEAD_BUFFERS={buffers} and REQUEST_HEADERS_MAX="
            f"{environ['REQUEST_HEADERS_MAX']} let through request heads that uWSGI cannot take "
            f"(up to {bound} bytes as uwsgi variables, over its {UWSGI_PACKET_MAX}): lower one of them"
        )
    count, threads = workers(environ["APP_WORKERS"]), int(environ["APP_THREADS"])
    if (needed := tasks_needed(count, threads)) > int(environ["APP_PIDS_LIMIT"]):
        found.append(
            f"APP_PIDS_LIMIT={environ['APP_PIDS_LIMIT']} is too low for {count} workers x {threads} threads "
            f"(needs at least {needed})"
        )
    if environ["DATABASE_URL"]:
        if "DATABASE_PASSWORD" in environ or environ.get("DATABASE_PASSWORD_FILE"):
            found += secret_problems(["DATABASE_PASSWORD"], environ)
        connections, most = database_connections(environ), int(environ["DATABASE_MAX_CONNECTIONS"])
        if connections > most:
            found.append(
                f"DATABASE_MAX_CONNECTIONS={most} is below the {connections} connections the app may hold "
                f"({count} workers and the master x {threads} threads, twice during make reload, the migration "
                "job and DATABASE_OTHER_CONNECTIONS): lower APP_WORKERS or APP_THREADS, or raise the database's limit"
            )
        if int(environ["DATABASE_TIMEOUT"]) >= int(environ["APP_TIMEOUT"]):
            found.append(
                f"DATABASE_TIMEOUT={environ['DATABASE_TIMEOUT']} must be below APP_TIMEOUT={environ['APP_TIMEOUT']}, "
                "so a database out of reach is a 503, not a worker killed for a stuck request"
            )
    return found


# --- runtime facts ----------------------------------------------------------------------------


def public_socket(environ: Mapping[str, str] = os.environ) -> Path:
    """Where nginx connects (APP_SOCKET, set in the image): a link to one container's socket."""
    return Path(environ.get("APP_SOCKET", "/run/app/app.sock"))


def own_socket(environ: Mapping[str, str] = os.environ) -> Path:
    """This container's own socket, beside the public one and named after it and the hostname.

    Two containers can then listen side by side while one replaces the other (make reload), and
    two servers of one Pod, which share its hostname, each on its own (app, ws).
    """
    public = public_socket(environ)
    return public.with_name(f"{public.stem}-{socket.gethostname()}.sock")


def header_fields(environ: Mapping[str, str] = os.environ) -> int:
    """How many request variables a server must take: whatever nginx lets through, and its own."""
    return int(environ["REQUEST_HEADERS_MAX"]) + NGINX_ADDED_HEADERS


def metrics_port(environ: Mapping[str, str]) -> int | None:
    """Where the app's metrics are served (APP_METRICS_PORT); None with APP_METRICS=off, or where
    no worker counts them (no PROMETHEUS_MULTIPROC_DIR: outside the app image)."""
    if environ.get("APP_METRICS", "on") != "on" or "PROMETHEUS_MULTIPROC_DIR" not in environ:
        return None
    return int(environ.get("APP_METRICS_PORT", "9200"))


def serve_command(environ: Mapping[str, str]) -> list[str]:
    """The server's command line. Gunicorn reads its derived values from here, through
    gunicorn/gunicorn.conf.py; uWSGI takes them as options, since its ini file cannot compute."""
    server = environ.get("APP_SERVER", "")
    if server == "gunicorn":
        return ["gunicorn", "--config", "/etc/stack/gunicorn.conf.py"]
    if server != "uwsgi":
        raise SystemExit(f"stackctl: APP_SERVER must be {' or '.join(SERVERS)}, not {server!r}")
    count = workers(environ.get("APP_WORKERS", "auto"))
    command = [
        "uwsgi", "--ini", "/etc/stack/uwsgi.ini",
        "--socket", str(own_socket(environ)),
        "--processes", str(count),
        # uWSGI reads `listen` before it expands $(VAR) in the ini file: $(APP_BACKLOG) there
        # would silently mean 0.
        "--listen", environ.get("APP_BACKLOG", "1024"),
        "--max-vars", str(header_fields(environ)),
        # Worker N recycles N x delta requests later: the jitter spread over the workers.
        "--max-requests-delta", str(int(environ.get("APP_MAX_REQUESTS_JITTER", "0")) // count),
    ]  # fmt: skip
    if environ.get("APP_ACCESS_LOG", "off") != "on":
        command.append("--disable-logging")
    # A process of its own, which uWSGI's master runs beside its workers and stops after them:
    # not a thread of the master, which forks its workers without taking the GIL.
    if metrics_port(environ):
        command += ["--attach-daemon2", "cmd=exec stackctl metrics"]
    # Development only (compose.dev.yaml): reload when a Python module changes.
    if environ.get("APP_RELOAD", "off") == "on":
        command += ["--py-autoreload", "1"]
    # Under APP_PREFIX uWSGI moves the prefix from PATH_INFO to SCRIPT_NAME, so url_for() builds
    # links under it (Gunicorn: SCRIPT_NAME in gunicorn/gunicorn.conf.py).
    if prefix := environ.get("APP_PREFIX", ""):
        command += ["--mount", f"{prefix}=stack_wsgi:app", "--manage-script-name"]
    else:
        command += ["--module", "stack_wsgi:app"]
    return command


def serve(environ: Mapping[str, str]) -> NoReturn:
    command = serve_command(environ)
    # The workers' metric files (runtime/stack_metrics.py) start empty with each server: a
    # restarted container keeps its /tmp on Kubernetes (emptyDir), and old PIDs would be summed.
    if metrics_dir := environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(metrics_dir, ignore_errors=True)
        Path(metrics_dir).mkdir(mode=0o700, parents=True)
    summary = " ".join(f"{name.removeprefix('APP_').lower()}={environ.get(name, '')}" for name in SUMMARY)
    summary = summary.replace("workers=auto", f"workers=auto({workers('auto')})")
    print(f"app: {command[0]} on {own_socket(environ)}: {summary}", flush=True)
    os.execvp(command[0], command)


# What the server's start line reports, so a log shows the settings it ran with.
SUMMARY = ("APP_WORKERS", "APP_THREADS", "APP_BACKLOG", "APP_TIMEOUT", "APP_GRACEFUL_TIMEOUT", "APP_KEEPALIVE",
           "APP_MAX_REQUESTS", "APP_MAX_REQUESTS_JITTER", "APP_PREFIX", "MAX_BODY_SIZE", "REQUEST_HEADERS_MAX",
           "APP_ACCESS_LOG", "LOG_FORMAT", "APP_RELOAD")  # fmt: skip


def publish(*, again: bool = False) -> bool:
    """Point the public socket at this container's own; once per container, unless `again`.

    Both servers call this once their app is imported and they listen (uWSGI's master-start
    hook, Gunicorn's post_worker_init), and may call it again: a graceful reload, a recycled
    worker. Only the first call of the container's life publishes, so a reload of an old
    container never takes the socket back from the one that replaced it. scripts/rollout gives
    it back on purpose (again=True) when a new container fails. The swap is a rename(2): a
    connection never finds the path missing.
    """
    if PUBLISHED_MARK.exists() and not again:
        return False
    link, target = public_socket(), own_socket()
    temporary = link.with_name(f"{link.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target.name)
    temporary.replace(link)
    PUBLISHED_MARK.touch()
    print(f"stackctl: published {link} -> {target.name}", file=sys.stderr, flush=True)
    return True


def queued_connections(path: Path) -> int | None:
    """Connections waiting in the listen queue of the unix socket bound at `path`, as `ss -xl`
    reads them (sock_diag netlink: the queue's length is the socket's receive queue); None if
    no socket listens there in this network namespace."""
    netlink_sock_diag, sock_diag_by_family, unix_diag_name, unix_diag_rqlen = 4, 20, 0, 4
    request = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 1 << 10, 0, 0b10001, 0, 0)  # listening; name, rqlen
    header = struct.pack("=IHHII", 16 + len(request), sock_diag_by_family, 0x301, 1, 0)  # request, dump
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink_sock_diag) as diag:
        diag.sendall(header + request)
        while True:
            data = diag.recv(65536)
            offset = 0
            while offset < len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                    return None
                name, queued, attr = None, 0, offset + 16 + 16
                while attr < offset + length:
                    attr_length, attr_kind = struct.unpack_from("=HH", data, attr)
                    value = data[attr + 4 : attr + attr_length]
                    if attr_kind == unix_diag_name:
                        name = value.rstrip(b"\0").decode(errors="replace")
                    elif attr_kind == unix_diag_rqlen:
                        queued = struct.unpack_from("=I", value)[0]
                    attr += (attr_length + 3) & ~3
                if name == str(path):
                    return int(queued)
                offset += (length + 3) & ~3


def drain(timeout: float) -> int:
    """Wait until nothing is queued on this container's socket (after another container took
    the public path), so a graceful stop finishes what nginx had already sent here."""
    started = time.monotonic()
    path = own_socket()
    while (queued := queued_connections(path)) and time.monotonic() - started < timeout:
        time.sleep(0.01)
    waited = time.monotonic() - started
    print(f"stackctl: {path.name}: {queued or 0} connection(s) queued after {waited * 1000:.0f} ms", file=sys.stderr)
    return 0 if not queued else 1


def uwsgi_packet(path: str) -> bytes:
    """Encode a GET as the uwsgi protocol does: a 4-byte header, then length-prefixed CGI vars."""
    params = {
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
    }
    body = b"".join(
        struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
        for k, v in ((k.encode(), v.encode()) for k, v in params.items())
    )
    return struct.pack("<BHB", 0, len(body), 0) + body


def health(environ: Mapping[str, str], *, ready: bool = False) -> str | None:
    """None if this container's own server answers /healthz as the server it should be (with
    `ready`, /readyz: its database answers too).

    Its own socket, not the public one: healthy means this server answers, whichever container
    the public path points at during a replacement. But only once it has published that socket
    (its server's start hook, a moment after it answers): until then nginx cannot reach it, and
    `up --wait` must not return.
    """
    if not PUBLISHED_MARK.exists():
        return "its socket is not published yet"
    server = environ.get("APP_SERVER", "")
    path = environ.get("APP_PREFIX", "") + (READY_PATH if ready else HEALTH_PATH)
    request = uwsgi_packet(path) if server == "uwsgi" else f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(float(environ.get("HEALTHCHECK_TIMEOUT", "3")))
        sock.connect(str(own_socket(environ)))
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 200 " not in f"{status} ":
        return f"{status!r}"
    reported = json.loads(body).get("server")
    if not ready and reported != server:
        return f"the app reports server {reported!r}, expected {server!r}"
    return None


def export_static(destination: Path) -> None:
    """Copy the Flask app's static folder, wherever the app keeps it, for nginx to serve.

    nginx serves ${APP_PREFIX}/static/ itself, so the app's static URL path must be /static.
    The folder's path relative to the app's source goes beside it (.source), for development
    mode, where nginx serves the live source instead (nginx/docker-entrypoint.sh).
    """
    from stack_wsgi import flask_app  # imports the app: a build step, not a runtime one

    folder, url_path = flask_app.static_folder, flask_app.static_url_path
    if url_path != "/static":
        raise SystemExit(f"stackctl: the app's static_url_path is {url_path!r}; nginx serves /static/")
    if folder is None or not Path(folder).is_dir():
        destination.mkdir(parents=True)
        source = ""
    else:
        shutil.copytree(folder, destination)
        source = str(Path(folder).resolve().relative_to(Path.cwd()))
    (destination.parent / f"{destination.name}.source").write_text(source + "\n")
    print(f"stackctl: static files from {source or '(none)'}", file=sys.stderr)


# What `check` runs beside the stack's own rules, each a module with problems(environ) returning
# one message per bad setting: an optional feature's (its overlay mounts the file here), and the
# app's own (APP_CHECK, a module of the app's folder, which is on the path), if they exist.
CHECKS_DIR = Path("/opt/stack/checks")
APP_CHECK = "settings_check"


def other_problems(environ: Mapping[str, str]) -> list[str]:
    modules = [
        (path.stem, importlib.util.spec_from_file_location(path.stem, path)) for path in sorted(CHECKS_DIR.glob("*.py"))
    ]
    modules.append((APP_CHECK, importlib.util.find_spec(APP_CHECK)))
    found = []
    for name, spec in modules:
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found += [f"{message} ({name})" for message in module.problems(environ)]
    return found


def check(environ: Mapping[str, str]) -> int:
    found = problems(environ) + other_problems(environ)
    for message in found:
        print(f"config: {message}", file=sys.stderr)
    if found:
        return 78  # EX_CONFIG
    print("config: " + " ".join(f"{name}={environ[name]}" for name in RULES))
    return 0


def main(argv: Sequence[str]) -> int:
    command, *args = argv or ["serve"]
    if command == "serve":
        serve(os.environ)
    if command == "check":
        return check(os.environ)
    if command == "health":
        try:
            problem = health(os.environ, ready=args == ["--ready"])
        except (OSError, ValueError) as error:
            problem = str(error)
        if problem:
            print(f"unhealthy: {problem}", file=sys.stderr)
        return 1 if problem else 0
    if command == "publish":
        publish(again=args == ["--again"])
        return 0
    if command == "published":
        target = os.readlink(public_socket()) if public_socket().is_symlink() else None
        print(f"{public_socket()} -> {target}")
        return 0 if target == own_socket().name else 1
    if command == "drain":
        return drain(float(args[0]) if args else 10.0)
    if command == "static":
        export_static(Path(args[0]))
        return 0
    if command == "metrics":
        if (port := metrics_port(os.environ)) is None:
            print("stackctl metrics: APP_METRICS=off, or no PROMETHEUS_MULTIPROC_DIR", file=sys.stderr)
            return 2
        import stack_metrics

        stack_metrics.serve_forever(port)
        return 0
    if command == "stop-bound":
        import stack_stop

        stack_stop.watch(float(os.environ["APP_GRACEFUL_TIMEOUT"]), master=os.getppid())
        return 0
    if command == "migrate":
        import stack_database

        return stack_database.migrate(Path.cwd())
    os.execvp(command, list(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
