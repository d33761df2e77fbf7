#!/usr/bin/env python3
"""Benchmark the stack against what users would pick instead; write Markdown, JSON and a chart.

Four configurations serve the same Flask app (the stack's own, tests/app) from the same app image,
one at a time, with the same worker count: the stack on uWSGI and on Gunicorn, and two peers
rebuilt on the stack's images (bench/peers/): nginx and uWSGI in one container with uWSGI's usual settings
(tiangolo/uwsgi-nginx-flask's shape), and nginx -> Gunicorn over TCP without upstream keep-alive
(docker/awesome-compose's nginx-wsgi-flask). wrk runs inside the project's own networks
(bench/compose.bench.yaml): no traffic leaves the project, no Docker port proxy in the path.

These machines vary by about 25 % between rounds, so the configurations alternate within each
round (in a rotating order) and every figure is a median over rounds, with its spread; ratios
are taken within a round. Per scenario: successful requests/s, latency, errors, and the CPU time
each layer spends per request (nginx, the app container, the Docker daemon that carries the
containers' logs), from cgroup and /proc accounting. The floor is the same request served with
no server at all (bench/probes/floor.py): app CPU per request / floor is what the server costs.
Also: the time from `up` to the first 200, image sizes, memory per worker. With postgres/ there,
the stack runs with its database and adds a read of one row by its key (each worker on its own
pool), with the database's CPU per request beside the other layers'.

It reports; it never passes or fails on a figure. Run by `make bench`:
    make bench BENCH_ARGS='--rounds 1 --duration 4 --configs uwsgi onebox'
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "runtime"))
import stackctl  # noqa: E402  (the stack's own worker count: one owner)

PROJECT = "fns-bench"
# The stack's PostgreSQL (postgres/), when the feature is there: the database-backed read's.
DATABASE = "postgres/compose.yaml" if (ROOT / "postgres" / "compose.yaml").exists() else None
STACK_FILES = ["compose.yaml", *filter(None, [DATABASE])]
FILES = [arg for path in (*STACK_FILES, "bench/compose.bench.yaml") for arg in ("--file", path)]
DYNAMIC = "/api/whoami"
STATIC = "/static/css/app.css"
SWEEP = (16, 64, 256, 1000)
# The processes of the Docker daemon: every container's output passes through its shim and
# dockerd (the JSON access log is one write per request), and health checks are exec'd by them.
DAEMON_COMMANDS = ("dockerd", "containerd", "containerd-shim")


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    server: str  # the WSGI server: a stack backend's peer is the one with the same server
    host: str  # where wrk sends requests, inside the project's networks
    layers: dict[str, str]  # layer -> the service whose container's CPU it is
    services: tuple[str, ...] = ()  # peers: what `up` starts (the stack: make up-<key>)

    @property
    def ours(self) -> bool:
        return not self.services


CONFIGS = (
    Config("uwsgi", "this stack, uWSGI", "uwsgi", "nginx:8080", {"nginx": "nginx", "app": "app"}),
    Config("gunicorn", "this stack, Gunicorn", "gunicorn", "nginx:8080", {"nginx": "nginx", "app": "app"}),
    Config(
        "onebox",
        "nginx + uWSGI in one container, uWSGI's usual settings (tiangolo's shape)",
        "uwsgi",
        "onebox:8080",
        {"nginx + app": "onebox"},
        ("onebox",),
    ),
    Config(
        "tcp",
        "nginx -> Gunicorn over TCP, no upstream keep-alive (awesome-compose's shape)",
        "gunicorn",
        "tcp-nginx:8080",
        {"nginx": "tcp-nginx", "app": "tcp-gunicorn"},
        ("tcp-nginx", "tcp-gunicorn"),
    ),
)


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    path: str
    connections: int = 32
    body_bytes: int | None = None
    ours_only: bool = False
    database: bool = False  # reads a row the run writes first: `path` is the collection's


SCENARIOS = (
    Scenario("dynamic", "small JSON", DYNAMIC),
    Scenario("static", "static file", STATIC),
    Scenario("c1000", "small JSON, 1,000 connections", DYNAMIC, 1000),
    Scenario("large", "64 KiB response", "/api/bytes?size=65536", ours_only=True),
    Scenario("upload", "1 MiB upload", "/api/echo", 8, 1024 * 1024, ours_only=True),
    *(Scenario(f"sweep-{c}", f"small JSON, {c} connections", DYNAMIC, c, ours_only=True) for c in SWEEP[:-1]),
    Scenario("db-read", "database read, one row", "/db/writes", ours_only=True, database=True),
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def compose(env: dict[str, str], *args: str, peers: bool = True, timeout: float = 600) -> str:
    command = ["docker", "compose", "--env-file", os.devnull, "--project-name", PROJECT, *FILES]
    command += ["--profile", "peers"] if peers else []
    result = subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command + list(args))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class DockerAPI(http.client.HTTPConnection):
    """The Engine API on its unix socket: the only way to read a container's cumulative CPU time."""

    def __init__(self) -> None:
        super().__init__("localhost", timeout=10)
        self.path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

    def cpu_s(self, container: str) -> float:
        if (seconds := cgroup_cpu_s(container)) is not None:
            return seconds
        self.request("GET", f"/containers/{container}/stats?stream=false&one-shot=true")
        return int(json.loads(self.getresponse().read())["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9


# A container's CPU time as its cgroup counts it, read at once where the daemon's stats call
# waits for a second sample (seconds a call, four calls a measurement): cgroup v1 (nanoseconds),
# v2 under systemd or cgroupfs (microseconds).
CGROUP_CPU = (
    ("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage", None, 1e9),
    ("/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat", "usage_usec", 1e6),
    ("/sys/fs/cgroup/docker/{id}/cpu.stat", "usage_usec", 1e6),
)


def cgroup_cpu_s(container: str) -> float | None:
    for template, key, per_second in CGROUP_CPU:
        try:
            text = Path(template.format(id=container)).read_text()
        except OSError:
            continue
        if key is None:
            return int(text) / per_second
        fields = dict(line.split() for line in text.splitlines() if line)
        return int(fields[key]) / per_second
    return None


def daemon_cpu_s() -> float:
    """CPU time of the daemon's own processes (not of children they reap: an exec'd wrk is one)."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        command, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if command.startswith(DAEMON_COMMANDS):
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_200(url: str, limit: float, started: float, done: threading.Event) -> float | None:
    """Poll url until it answers 200 (bounded by `limit` seconds); seconds since `started`, or None."""
    while time.monotonic() - started < limit and not done.is_set():
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    return None


def timed_up(config: Config, env: dict[str, str]) -> tuple[dict[str, float | None], int]:
    """Start a configuration the way its users do, timing the first 200 and the command's return;
    the port it serves on, on 127.0.0.1.

    The stack: `make up-<backend>` (build check, config check, migrations, waits until a request
    would succeed). A peer: `docker compose up -d` of its services, images present.
    """
    port = free_port()
    if config.ours:
        command = ["make", f"up-{config.key}"]
        env = {**env, "COMPOSE_PROJECT_NAME": PROJECT, "HTTP_PORT": str(port), "COMPOSE_FILE": ":".join(STACK_FILES)}
    else:
        command = ["docker", "compose", "--project-name", PROJECT, *FILES, "--profile", "peers", "up", "--detach"]
        command += ["--no-build", *config.services]
        env = {**env, "BENCH_PEER_PORT": str(port)}
    failed = threading.Event()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def watch() -> None:
        if process.wait():
            failed.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    first = first_200(f"http://127.0.0.1:{port}{DYNAMIC}", 60, started, failed)
    _, stderr = process.communicate(timeout=120)
    returned = time.monotonic() - started
    watcher.join()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr}")
    return {"first_200_s": None if first is None else round(first, 2), "returned_s": round(returned, 2)}, port


def seed(port: int, collection: str) -> str:
    """Write one row through nginx; the path that reads it back."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{collection}?tag=bench", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return f"{collection}/{json.loads(response.read())['id']}"


class Measurer:
    """wrk against one running configuration, with the CPU each layer spent meanwhile."""

    def __init__(self, config: Config, env: dict[str, str]) -> None:
        self.config, self.env = config, env
        layers = {**config.layers, **({"db": "db"} if config.ours and DATABASE else {})}
        self.ids = {layer: compose(env, "ps", "--quiet", service).strip() for layer, service in layers.items()}
        self.api = DockerAPI()

    def cpu(self) -> dict[str, float]:
        return {**{layer: self.api.cpu_s(cid) for layer, cid in self.ids.items()}, "daemon": daemon_cpu_s()}

    def run(self, scenario: Scenario, duration: int) -> dict[str, Any]:
        before = self.cpu()
        body = [f"WRK_BODY_BYTES={scenario.body_bytes}"] if scenario.body_bytes else []
        wrk = ["wrk", "--threads", "1", "--connections", str(scenario.connections), "--duration", f"{duration}s"]
        wrk += ["--timeout", "5s", "--script", "/bench/report.lua", f"http://{self.config.host}{scenario.path}"]
        out = compose(self.env, "exec", "-T", "bench", "env", *body, *wrk, timeout=duration + 60)
        after = self.cpu()
        match = re.search(r"^BENCH-JSON (.*)$", out, re.MULTILINE)
        if not match:
            raise RuntimeError(f"no report from wrk:\n{out}")
        raw = json.loads(match.group(1))
        errors = raw["errors"]
        ok = raw["requests"] - errors["status"]
        if not ok:
            # A route gone or broken: a row of zeros would pass for a figure.
            raise RuntimeError(f"{self.config.key}: {scenario.path}: not one 2xx answer in {raw['requests']} requests")
        return {
            "config": self.config.key,
            "scenario": scenario.key,
            # Successful responses only: fast 502s must not look like throughput.
            "rps": round(ok / (raw["duration_us"] / 1e6), 1),
            "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
            "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
            "non_2xx": errors["status"],
            "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
            "requests": raw["requests"],
            "cpu_us": {layer: round((after[layer] - before[layer]) / max(ok, 1) * 1e6, 1) for layer in after},
        }

    def probe(self, name: str, *args: str) -> Any:
        code = (ROOT / "bench" / "probes" / name).read_text()
        return json.loads(compose(self.env, "exec", "-T", "app", "python3", "-c", code, *args))

    def close(self) -> None:
        self.api.close()


def worker_memory(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean RSS and PSS (shared pages split among sharers) of the server's workers, in MiB."""
    # The master's children, but for uWSGI master's stop watch (runtime/stack_stop.py).
    workers = [row for row in rows if row["ppid"] == 1 and row["command"] != "stackctl"]
    return {
        "workers": len(workers),
        "worker_rss_mib": round(statistics.mean(w["rss_kib"] for w in workers) / 1024, 1),
        "worker_pss_mib": round(statistics.mean(w["pss_kib"] for w in workers) / 1024, 1),
    }


def bench_config(config: Config, env: dict[str, str], duration: int) -> dict[str, Any]:
    """One round of one configuration: start it, measure every scenario it takes, stop it."""
    env = {**env, "APP_SERVER": config.key if config.ours else "uwsgi"}
    compose(env, "down", "--volumes", "--remove-orphans")
    startup, port = timed_up(config, env)
    out: dict[str, Any] = {"startup": startup, "rows": []}
    try:
        compose(env, "up", "--detach", "--no-build", "--no-deps", "bench")
        measurer = Measurer(config, env)
        try:
            measurer.run(Scenario("warmup", "warm-up", DYNAMIC), 2)
            for scenario in SCENARIOS:
                if (scenario.ours_only and not config.ours) or (scenario.database and not DATABASE):
                    continue
                if scenario.database:
                    scenario = replace(scenario, path=seed(port, scenario.path))
                row = measurer.run(scenario, duration)
                log(
                    f"{config.key}: {scenario.label}: {row['rps']:,.0f} req/s, {row['non_2xx']} non-2xx, "
                    f"{row['socket_errors']} socket errors, CPU µs/request {row['cpu_us']}"
                )
                out["rows"].append(row)
            if config.ours:
                out["floor"] = measurer.probe("floor.py", DYNAMIC, "5000")
                out["memory"] = worker_memory(measurer.probe("worker_memory.py"))
        finally:
            measurer.close()
    finally:
        compose(env, "down", "--volumes", "--remove-orphans")
    return out


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    engine = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(), "docker_engine": engine}


def image_sizes(env: dict[str, str]) -> dict[str, float]:
    services = json.loads(compose(env, "config", "--format", "json"))["services"]
    sizes = {}
    for name in ("app", "nginx"):
        inspect = ["docker", "image", "inspect", "--format", "{{.Size}}", services[name]["image"]]
        sizes[name] = round(int(subprocess.run(inspect, capture_output=True, text=True, check=True).stdout) / 1e6, 1)
    return sizes


# --- summarising --------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def summarise(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians over rounds per configuration and scenario; ratios taken within each round."""
    configs = [c for c in CONFIGS if c.key in rounds[0]]
    table: dict[str, dict[str, Any]] = {}
    for config in configs:
        rows_by_scenario: dict[str, list[dict[str, Any]]] = {}
        for one in rounds:
            for row in one[config.key]["rows"]:
                rows_by_scenario.setdefault(row["scenario"], []).append(row)
        table[config.key] = {
            key: {
                "rps": spread([r["rps"] for r in rows]),
                "p50_ms": statistics.median(r["p50_ms"] for r in rows),
                "p99_ms": statistics.median(r["p99_ms"] for r in rows),
                "errors": sum(r["non_2xx"] + r["socket_errors"] for r in rows),
                "cpu_us": {layer: statistics.median(r["cpu_us"][layer] for r in rows) for layer in rows[0]["cpu_us"]},
            }
            for key, rows in rows_by_scenario.items()
        }
        starts = [one[config.key]["startup"] for one in rounds]
        table[config.key]["startup"] = {
            key: spread([s[key] for s in starts if s[key] is not None] or [float("nan")]) for key in starts[0]
        }
        if config.ours:
            table[config.key]["floor_us"] = spread([one[config.key]["floor"]["cpu_us_per_request"] for one in rounds])
            table[config.key]["memory"] = rounds[-1][config.key]["memory"]

    def per_round(ratio: Any) -> dict[str, float] | None:
        values = [v for v in (ratio(one) for one in rounds) if v is not None]
        return spread(values) if values else None

    def rps(one: dict[str, Any], key: str, scenario: str) -> float:
        return float(next(r["rps"] for r in one[key]["rows"] if r["scenario"] == scenario))

    peers = [c.key for c in configs if not c.ours]
    ratios = {}
    for config in (c for c in configs if c.ours):
        key = config.key
        twin = next((c.key for c in configs if not c.ours and c.server == config.server), None)

        def app_cpu(one: dict[str, Any], key: str = key) -> float:
            return float(next(r["cpu_us"]["app"] for r in one[key]["rows"] if r["scenario"] == "dynamic"))

        ratios[key] = {
            "dynamic_vs_best_peer": per_round(
                lambda one, key=key: (
                    rps(one, key, "dynamic") / max(rps(one, p, "dynamic") for p in peers) if peers else None
                )
            ),
            "dynamic_vs_same_server_peer": per_round(
                lambda one, key=key, twin=twin: rps(one, key, "dynamic") / rps(one, twin, "dynamic") if twin else None
            ),
            "app_cpu_vs_floor": per_round(lambda one, key=key: app_cpu(one) / one[key]["floor"]["cpu_us_per_request"]),
            "static_vs_dynamic": per_round(lambda one, key=key: rps(one, key, "static") / rps(one, key, "dynamic")),
            "first_200_vs_faster_peer": per_round(
                lambda one, key=key: (
                    one[key]["startup"]["first_200_s"] / min(one[p]["startup"]["first_200_s"] for p in peers)
                    if peers
                    else None
                )
            ),
            "errors_up_to_1000": sum(
                r["non_2xx"] + r["socket_errors"]
                for one in rounds
                for r in one[key]["rows"]
                if r["scenario"].startswith(("dynamic", "c1000", "sweep"))
            ),
        }
    return {"table": table, "ratios": ratios}


# --- reporting ----------------------------------------------------------------------------


DASH, TIMES = "\u2013", "\u00d7"  # en dash and multiplication sign, for the report


def figure(value: dict[str, float], unit: str = "", digits: int = 0) -> str:
    fmt = f"{{:,.{digits}f}}"
    median, low, high = (fmt.format(value[k]) for k in ("median", "min", "max"))
    return f"{median}{unit} ({low}{DASH}{high})" if low != high else f"{median}{unit}"


def cpu_cells(cpu: dict[str, float]) -> str:
    nginx = cpu.get("nginx", cpu.get("nginx + app", 0.0))
    app = cpu.get("app")
    own = nginx + (app or 0.0)
    if app is None:
        return f"{own:,.0f} (one container) | {cpu['daemon']:,.0f} | {own + cpu['daemon']:,.0f}"
    return f"{nginx:,.0f} + {app:,.0f} | {cpu['daemon']:,.0f} | {own + cpu['daemon']:,.0f}"


def database_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "n/a (no postgres/)"
    return f"{figure(row['rps'])} ({row['cpu_us']['app']:,.0f}, {row['cpu_us']['db']:,.0f})"


def markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["summary"]
    table = s["table"]
    labels = {c.key: c.label for c in CONFIGS}
    lines = [
        f"Run {report['date']} on {m['cpus']} CPUs ({m['cpu_model']}), kernel {m['kernel']}, Docker Engine "
        f"{m['docker_engine']}. Every configuration serves the same Flask app from the same app image with "
        f"{report['workers']} workers; wrk (1 thread) inside the project's networks, {report['duration_s']} s per "
        f"measurement, {report['rounds']} rounds alternating the configurations: medians, with the spread over "
        "rounds in brackets. wrk, nginx and the app share the CPUs: compare within this run, not across machines.",
        "",
        "| configuration | small JSON, 32 conns | 1,000 conns (errors) | static file | CPU µs per small-JSON "
        "request: nginx + app | Docker daemon | total | first 200 after `up` |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, row in table.items():
        lines.append(
            f"| {labels[key]} | {figure(row['dynamic']['rps'])} | {figure(row['c1000']['rps'])} "
            f"({row['c1000']['errors']:,}) | {figure(row['static']['rps'])} | {cpu_cells(row['dynamic']['cpu_us'])} | "
            f"{figure(row['startup']['first_200_s'], ' s', 1)} |"
        )
    ours = [c.key for c in CONFIGS if c.ours and c.key in table]
    lines += [
        "",
        "| the stack | floor: µs CPU per request, in-process | app CPU ÷ floor | small JSON ÷ best peer "
        "| small JSON ÷ peer on the same server "
        f"| static ÷ small JSON | errors, 16{DASH}1,000 conns | first 200 ÷ faster peer | `make up` returned "
        "| one-row database read, 2xx/s (CPU µs: app, database) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def times(value: dict[str, float] | None) -> str:
        return "n/a" if value is None else figure(value, TIMES, 2)

    for key in ours:
        ratio, row = s["ratios"][key], table[key]
        lines.append(
            f"| {labels[key]} | {figure(row['floor_us'])} | {times(ratio['app_cpu_vs_floor'])} | "
            f"{times(ratio['dynamic_vs_best_peer'])} | {times(ratio['dynamic_vs_same_server_peer'])} | "
            f"{times(ratio['static_vs_dynamic'])} | "
            f"{ratio['errors_up_to_1000']} | {times(ratio['first_200_vs_faster_peer'])} | "
            f"{figure(row['startup']['returned_s'], ' s', 1)} | {database_cell(row.get('db-read'))} |"
        )
    lines += [
        "",
        "| the stack | scenario | conns | 2xx/s | p50 ms | p99 ms | errors | CPU µs per request: nginx, app, daemon "
        "(, database) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in ours:
        for scenario in SCENARIOS:
            if row := table[key].get(scenario.key):
                layers = ("nginx", "app", "daemon", "db") if scenario.database else ("nginx", "app", "daemon")
                cpu = ", ".join(f"{row['cpu_us'][layer]:,.0f}" for layer in layers if layer in row["cpu_us"])
                lines.append(
                    f"| {key} | {scenario.label} | {scenario.connections} | {figure(row['rps'])} | {row['p50_ms']} | "
                    f"{row['p99_ms']} | {row['errors']} | {cpu} |"
                )
    sizes = report["image_sizes_mb"]
    memory = ", ".join(
        f"{key} {table[key]['memory']['workers']} workers of {table[key]['memory']['worker_rss_mib']} MiB RSS / "
        f"{table[key]['memory']['worker_pss_mib']} MiB PSS"
        for key in ours
    )
    lines += ["", f"Images: app {sizes['app']} MB, nginx {sizes['nginx']} MB. Memory: {memory}."]
    return "\n".join(lines) + "\n"


PERFORMANCE = ROOT / "docs" / "performance.md"
PERFORMANCE_MARKS = ("<!-- make bench: peers -->", "<!-- /make bench -->")


def splice_readme(table: str) -> None:
    """Put the comparison table into docs/performance.md between its marks: the run owns the figures."""
    start, end = PERFORMANCE_MARKS
    text = PERFORMANCE.read_text()
    if start not in text or end not in text:
        log(f"{PERFORMANCE.relative_to(ROOT)} has no {start} ... {end} section: left as it is")
        return
    head, rest = text.split(start, 1)
    PERFORMANCE.write_text(f"{head}{start}\n{table}{end}{rest.split(end, 1)[1]}")


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = report["summary"]["table"]
    keys = list(table)
    short = {"uwsgi": "stack, uWSGI", "gunicorn": "stack, Gunicorn", "onebox": "one box (tiangolo)",
             "tcp": "TCP (awesome-compose)"}  # fmt: skip
    shown = [s for s in SCENARIOS if not s.ours_only]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        values = [table[key][s.key]["rps"] for s in shown]
        medians = [v["median"] for v in values]
        spreads = [[v["median"] - v["min"] for v in values], [v["max"] - v["median"] for v in values]]
        bars = left.bar([x + i * width for x in range(len(shown))], medians, width, yerr=spreads, label=short[key])
        left.bar_label(bars, labels=[f"{v:,.0f}" for v in medians], fontsize=7, rotation=90, padding=3)
    left.set_xticks([x + width * (len(keys) - 1) / 2 for x in range(len(shown))], [s.label for s in shown])
    left.set_yscale("log")
    left.set_ylim(top=left.get_ylim()[1] * 4)  # room for the labels above the bars
    left.set_ylabel("successful requests/s, median (log scale)")
    left.set_title("Throughput, same app and worker count")
    left.legend(fontsize=8)
    bottoms = [0.0] * len(keys)
    layers = {"nginx": "tab:purple", "nginx + app": "tab:olive", "app": "tab:cyan", "daemon": "tab:gray"}
    for layer, colour in layers.items():
        values = [table[key]["dynamic"]["cpu_us"].get(layer, 0.0) for key in keys]
        if any(values):
            right.bar(range(len(keys)), values, 0.6, bottom=bottoms, label=layer, color=colour)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    floors = [table[key]["floor_us"]["median"] for key in keys if "floor_us" in table[key]]
    if floors:
        right.axhline(statistics.median(floors), color="black", linestyle="--", linewidth=1, label="floor (no server)")
    right.set_xticks(range(len(keys)), [short[key] for key in keys], fontsize=8, rotation=15)
    right.set_ylabel("CPU µs per small-JSON request")
    right.set_title("Where the CPU goes")
    right.legend(fontsize=8)
    m = report["machine"]
    fig.suptitle(f"Run {report['date']}, {m['cpus']} CPUs, medians of {report['rounds']} rounds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all configurations (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    keys = [c.key for c in CONFIGS]
    parser.add_argument("--configs", nargs="+", default=keys, choices=keys, help="default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--report", type=Path, help="measure nothing: write the outputs again from this results.json")
    args = parser.parse_args()
    if args.report:
        earlier = json.loads(args.report.read_text())
        write({**earlier, "summary": summarise(earlier["raw"])}, args.out)
        return 0

    workers = stackctl.workers("auto")
    # The stack's own app (tests/app), whatever a fork keeps in app/: the figures measure the stack.
    env = {**os.environ, "HTTP_BIND": "127.0.0.1", "IMAGE_TAG": "bench", "APP_DIR": "tests/app",
           "APP_WORKERS": str(workers), "BENCH_WORKERS": str(workers)}  # fmt: skip
    log("building images (project fns-bench, tag bench); the peers' image builds on the app's")
    compose(env, "build", peers=False, timeout=1800)
    compose(env, "build", "onebox", timeout=1800)
    configs = [c for c in CONFIGS if c.key in args.configs]
    rounds = []
    for number in range(args.rounds):
        # Rotate the order, so no configuration always runs first (on a cold cache) or last.
        order = configs[number % len(configs) :] + configs[: number % len(configs)]
        log(f"round {number + 1} of {args.rounds}: {' '.join(c.key for c in order)}")
        rounds.append({config.key: bench_config(config, env, args.duration) for config in order})
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "workers": workers,
        "machine": machine(),
        "image_sizes_mb": image_sizes(env),
        "settings": {k: v for k, v in os.environ.items() if k.startswith(("APP_", "NGINX_"))},
        "summary": summarise(rounds),
        "raw": rounds,
    }
    write(report, args.out)
    return 0


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (out / "results.md").write_text(text)
    # docs/performance.md shows the run's conditions, the comparison and the stack's ratios; results.md all.
    splice_readme("\n\n".join(text.split("\n\n")[:3]) + "\n")
    chart(report, out / "chart.png")
    print(text)
    log(f"wrote {out}/results.json, results.md and chart.png")


if __name__ == "__main__":
    sys.exit(main())
