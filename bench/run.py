#!/usr/bin/env python3
"""Benchmark the stack on each backend; write a Markdown table, JSON and a PNG chart.

Measures, per backend, with wrk inside the project's own networks (bench/compose.bench.yaml):
nginx serving a static file; a small JSON response through nginx and straight from the app
server (same workers, HTTP on TCP) to price the nginx hop; a 64 KiB response; a 1 MiB upload; a
concurrency sweep. For each: requests/s, p50/p99 latency, errors, CPU of each container. Also:
image sizes, memory per worker, and the time from `make up-*` to the first 200 (warm images).

It reports; it never passes or fails on a figure. Run by `make bench`:
    make bench BENCH_ARGS='--duration 5 --backends gunicorn'
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "fns-bench"
FILES = ["--file", "compose.yaml", "--file", "bench/compose.bench.yaml"]
SERVICES = ("nginx", "app", "bench")
SWEEP = (16, 64, 256, 1000)


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    url: str
    connections: int = 32
    body_bytes: int | None = None


SCENARIOS = (
    Scenario("static", "static file (nginx)", "http://nginx:8080/static/css/app.css"),
    Scenario("dynamic", "small JSON via nginx", "http://nginx:8080/api/whoami"),
    Scenario("direct", "small JSON direct", "http://app:9000/api/whoami"),
    Scenario("large", "64 KiB via nginx", "http://nginx:8080/api/bytes?size=65536"),
    Scenario("upload", "1 MiB upload via nginx", "http://nginx:8080/api/echo", 8, 1024 * 1024),
    *(Scenario(f"sweep-{c}", f"{c} connections", "http://nginx:8080/api/whoami", c) for c in SWEEP),
)


@dataclass
class Result:
    backend: str
    scenario: str
    label: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int
    cpu_cores: dict[str, float] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def compose(env: dict[str, str], *args: str, files: bool = True, timeout: float = 600) -> str:
    command = ["docker", "compose", "--env-file", os.devnull, "--project-name", PROJECT]
    command += FILES if files else ["--file", "compose.yaml"]
    result = subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command + list(args))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class DockerAPI(http.client.HTTPConnection):
    """The Engine API on its unix socket: the only way to read a container's cumulative CPU time."""

    def __init__(self) -> None:
        super().__init__("localhost", timeout=10)
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        self.path = host.removeprefix("unix://")

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

    def cpu_ns(self, container: str) -> int:
        self.request("GET", f"/containers/{container}/stats?stream=false&one-shot=true")
        return int(json.loads(self.getresponse().read())["cpu_stats"]["cpu_usage"]["total_usage"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_200(url: str, limit: float) -> float | None:
    """Poll url until it answers 200 (bounded by `limit` seconds); return when, or None."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    return None


def time_to_first_200(backend: str, env: dict[str, str]) -> dict[str, float | None]:
    """Run the real `make up-<backend>` (images warm) and time it against the first 200."""
    port = free_port()
    make_env = {**env, "COMPOSE_PROJECT_NAME": PROJECT, "HTTP_PORT": str(port)}
    compose(env, "down", "--volumes", "--remove-orphans")
    started = time.monotonic()
    make = subprocess.Popen(
        ["make", f"up-{backend}"], cwd=ROOT, env=make_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    first = first_200(f"http://127.0.0.1:{port}/healthz", 60)
    _, stderr = make.communicate(timeout=120)
    returned = time.monotonic() - started
    if make.returncode:
        raise RuntimeError(f"make up-{backend} failed:\n{stderr}")
    return {"first_200_s": None if first is None else round(first, 2), "make_returned_s": round(returned, 2)}


def run_wrk(
    env: dict[str, str], api: DockerAPI, ids: dict[str, str], scenario: Scenario, duration: int
) -> dict[str, Any]:
    before = {name: api.cpu_ns(cid) for name, cid in ids.items()}
    started = time.monotonic()
    body = [f"WRK_BODY_BYTES={scenario.body_bytes}"] if scenario.body_bytes else []
    out = compose(
        env,
        *("exec", "-T", "bench", "env", *body, "wrk", "--threads", "1", "--connections", str(scenario.connections)),
        *("--duration", f"{duration}s", "--timeout", "5s", "--script", "/bench/report.lua", scenario.url),
        timeout=duration + 60,
    )
    elapsed = time.monotonic() - started
    cpu = {name: round((api.cpu_ns(cid) - before[name]) / 1e9 / elapsed, 2) for name, cid in ids.items()}
    match = re.search(r"^BENCH-JSON (.*)$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no report from wrk:\n{out}")
    return {**json.loads(match.group(1)), "cpu": cpu}


def worker_memory(env: dict[str, str]) -> dict[str, Any]:
    """RSS and PSS (shared pages split among sharers) of the app server's master and workers."""
    probe = (ROOT / "bench" / "probes" / "worker_memory.py").read_text()
    rows = json.loads(compose(env, "exec", "-T", "app", "python3", "-c", probe))
    master = next(row for row in rows if row["pid"] == 1)
    workers = [row for row in rows if row["ppid"] == 1]

    def mean(key: str) -> float:
        return round(sum(float(w[key]) for w in workers) / len(workers) / 1024, 1)

    return {
        "workers": len(workers),
        "master_rss_mib": round(master["rss_kib"] / 1024, 1),
        "worker_rss_mib": mean("rss_kib"),
        "worker_pss_mib": mean("pss_kib"),
    }


def bench_backend(backend: str, env: dict[str, str], duration: int) -> tuple[list[Result], dict[str, Any]]:
    env = {**env, "APP_SERVER": backend, "HTTP_PORT": "0"}
    extra: dict[str, Any] = {"startup": time_to_first_200(backend, env)}
    log(f"{backend}: first 200 after {extra['startup']['first_200_s']} s of `make up-{backend}`")
    compose(env, "up", "--detach", "--wait", "--no-build", "--wait-timeout", "120")
    ids = {name: compose(env, "ps", "--quiet", name).strip() for name in SERVICES}
    api = DockerAPI()
    results = []
    try:
        for url in ("http://nginx:8080/api/whoami", "http://app:9000/api/whoami"):  # warm up both paths
            run_wrk(env, api, ids, Scenario("warmup", "warm-up", url), 2)
        for scenario in SCENARIOS:
            raw = run_wrk(env, api, ids, scenario, duration)
            errors = raw["errors"]
            result = Result(
                backend=backend,
                scenario=scenario.key,
                label=scenario.label,
                connections=scenario.connections,
                # Successful responses only: fast 502s must not look like throughput.
                rps=round((raw["requests"] - errors["status"]) / (raw["duration_us"] / 1e6), 1),
                p50_ms=round(raw["latency_us"]["p50"] / 1000, 2),
                p99_ms=round(raw["latency_us"]["p99"] / 1000, 2),
                non_2xx=errors["status"],
                socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
                requests=raw["requests"],
                cpu_cores=raw["cpu"],
            )
            log(
                f"{backend}: {scenario.label}: {result.rps:.0f} req/s, p99 {result.p99_ms} ms, "
                f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors"
            )
            results.append(result)
        extra["memory"] = worker_memory(env)
    finally:
        api.close()
        compose(env, "down", "--volumes", "--remove-orphans")
    return results, extra


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    engine = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(), "docker_engine": engine}


def image_sizes(env: dict[str, str]) -> dict[str, float]:
    sizes = {}
    services = json.loads(compose(env, "config", "--format", "json"))["services"]
    for name in ("app", "nginx"):
        image = services[name]["image"]
        inspect = ["docker", "image", "inspect", "--format", "{{.Size}}", image]
        sizes[name] = round(int(subprocess.run(inspect, capture_output=True, text=True, check=True).stdout) / 1e6, 1)
    return sizes


def ratios(results: list[Result]) -> dict[str, dict[str, float]]:
    by = {(r.backend, r.scenario): r for r in results}
    out = {}
    for backend in sorted({r.backend for r in results}):
        dynamic, direct, static = by[(backend, "dynamic")], by[(backend, "direct")], by[(backend, "static")]
        out[backend] = {
            "nginx_vs_direct": round(dynamic.rps / direct.rps, 2),
            "static_vs_dynamic": round(static.rps / dynamic.rps, 1),
            "errors_up_to_1000": sum(r.non_2xx + r.socket_errors for r in results if r.backend == backend),
        }
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Run {report['date']} on {m['cpus']} CPUs ({m['cpu_model']}), kernel {m['kernel']}, Docker Engine "
        f"{m['docker_engine']}; wrk (1 thread) inside the project's networks, {report['duration_s']} s per row. "
        "The load generator, nginx and the app share the same CPUs: compare ratios within this run, not "
        "absolute figures across machines.",
        "",
        "| backend | scenario | conns | 2xx/s | p50 ms | p99 ms | non-2xx | socket err "
        "| CPU nginx | CPU app | CPU wrk |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        cpu = r["cpu_cores"]
        lines.append(
            f"| {r['backend']} | {r['label']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['non_2xx']} | {r['socket_errors']} | {cpu['nginx']} | {cpu['app']} | {cpu['bench']} |"
        )
    lines += ["", "| backend | nginx ÷ direct | static ÷ dynamic | errors, all rows | first 200 after `make up` | "
              "`make up` returned | workers | worker RSS / PSS MiB | master RSS MiB |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for backend, ratio in report["ratios"].items():
        extra = report["backends"][backend]
        mem, start = extra["memory"], extra["startup"]
        lines.append(
            f"| {backend} | {ratio['nginx_vs_direct']} | {ratio['static_vs_dynamic']} | {ratio['errors_up_to_1000']} | "
            f"{start['first_200_s']} s | {start['make_returned_s']} s | {mem['workers']} | "
            f"{mem['worker_rss_mib']} / {mem['worker_pss_mib']} | {mem['master_rss_mib']} |"
        )
    sizes = report["image_sizes_mb"]
    lines += ["", f"Images: app {sizes['app']} MB, nginx {sizes['nginx']} MB. CPU columns are cores busy on average."]
    return "\n".join(lines) + "\n"


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    backends = list(report["backends"])
    main = [s for s in SCENARIOS if not s.key.startswith("sweep")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(backends)
    for i, backend in enumerate(backends):
        values = [next(r["rps"] for r in results if r["backend"] == backend and r["scenario"] == s.key) for s in main]
        bars = left.bar([x + i * width for x in range(len(main))], values, width, label=backend)
        left.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, rotation=90, padding=2)
        sweep = [r for r in results if r["backend"] == backend and r["scenario"].startswith("sweep")]
        right.plot([r["connections"] for r in sweep], [r["rps"] for r in sweep], marker="o", label=backend)
        for r in sweep:
            errors = r["non_2xx"] + r["socket_errors"]
            right.annotate(f"{errors} err", (r["connections"], r["rps"]), fontsize=7, textcoords="offset points",
                           xytext=(0, 6 + 10 * i), ha="center")  # fmt: skip
    left.set_xticks([x + width * (len(backends) - 1) / 2 for x in range(len(main))], [s.label for s in main])
    left.tick_params(axis="x", labelsize=8)
    left.set_yscale("log")
    left.set_ylabel("successful requests/s (log scale)")
    left.set_title("Throughput by scenario")
    left.legend()
    right.set_xscale("log")
    right.set_xticks(SWEEP, [str(c) for c in SWEEP])
    right.set_xlabel("concurrent connections")
    right.set_ylabel("successful requests/s")
    right.set_ylim(bottom=0)
    right.set_title("Small JSON via nginx: concurrency sweep")
    right.legend()
    m = report["machine"]
    fig.suptitle(f"Run {report['date']}, {m['cpus']} CPUs, wrk inside the compose networks", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement (default 8)")
    parser.add_argument("--backends", nargs="+", default=["uwsgi", "gunicorn"], choices=["uwsgi", "gunicorn"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    env = {**os.environ, "HTTP_BIND": "127.0.0.1", "IMAGE_TAG": "bench"}
    log("building images (project fns-bench, tag bench)")
    compose(env, "build", timeout=1800)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": args.duration,
        "machine": machine(),
        "image_sizes_mb": image_sizes(env),
        "settings": {k: v for k, v in os.environ.items() if k.startswith(("APP_", "NGINX_"))},
        "backends": {},
        "results": [],
    }
    measured: list[Result] = []
    for backend in args.backends:
        results, extra = bench_backend(backend, env, args.duration)
        report["backends"][backend] = extra
        measured += results
    report["results"] = [r.__dict__ for r in measured]
    report["ratios"] = ratios(measured)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "results.md").write_text(table)
    chart(report, args.out / "chart.png")
    print(table)
    log(f"wrote {args.out}/results.json, results.md and chart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
