#!/usr/bin/env python3
"""Benchmark WebSockets through nginx on both servers; write ws/bench/results.md and .json.

For each server, the stack with ws/compose.yaml and the stack's own app (tests/app, its echo
route), its ws service given room for --hold sockets:

- held: --hold sockets opened at once and kept, each proven by an echo; the time to open them
  and the memory the ws and nginx containers take for them (cgroup accounting, against the same
  containers with none open);
- echo: at each count of --sockets, every socket sends a small text message and waits for its
  echo, again, for --duration seconds: round trips per second, latency, and the CPU time each
  container spends per round trip (one message each way), from cgroup accounting.

The client is this process (asyncio, `websockets`) on the host, through the published port; its
own CPU use is reported beside, so a figure limited by the client shows as such. It reports; it
never passes or fails on a figure. Run by `make bench-websocket` (and by `make bench`, first):
    make bench-websocket BENCH_WEBSOCKET_ARGS='--servers uwsgi --hold 200 --duration 3'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "runtime"), str(ROOT / "bench")]
from run import cgroup_cpu_s, free_port, log  # noqa: E402  (bench/run.py, the stack's benchmark)

from tests.facts import compose_defaults  # noqa: E402
from ws.check import ws_tasks_needed  # noqa: E402  (the pids the ws service needs: one owner)

PROJECT = "fns-bench-ws"
FILES = ("compose.yaml", "ws/compose.yaml")
ECHO = "/ws/echo"
MESSAGE = "x" * 32
# How many handshakes are under way at once while the held sockets open.
OPENING = 50
CGROUP_MEMORY = (
    "/sys/fs/cgroup/memory/docker/{id}/memory.usage_in_bytes",
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.current",
    "/sys/fs/cgroup/docker/{id}/memory.current",
)


def compose(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    files = [arg for path in FILES for arg in ("--file", path)]
    command = ["docker", "compose", "--project-name", PROJECT, *files, *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def memory_mib(container: str) -> float | None:
    for template in CGROUP_MEMORY:
        try:
            return int(Path(template.format(id=container)).read_text()) / 2**20
        except OSError:
            continue
    return None


class Containers:
    """The running stack's ws and nginx containers, read by their cgroups."""

    def __init__(self, env: dict[str, str]) -> None:
        self.ids = {service: compose(env, "ps", "--quiet", service).strip() for service in ("ws", "nginx")}

    def cpu_s(self) -> dict[str, float | None]:
        return {service: cgroup_cpu_s(container) for service, container in self.ids.items()}

    def memory(self) -> dict[str, float | None]:
        return {service: memory_mib(container) for service, container in self.ids.items()}


def per(after: float | None, before: float | None, count: int, scale: float) -> float | None:
    """(after - before) x scale for each of `count`; None where a reading is missing."""
    if after is None or before is None or not count:
        return None
    return (after - before) * scale / count


async def opened(url: str, count: int) -> list[ClientConnection]:
    """`count` sockets, each proven by one echo; OPENING handshakes at a time."""
    gate = asyncio.Semaphore(OPENING)

    async def one() -> ClientConnection:
        async with gate:
            ws = await connect(url, compression=None, open_timeout=30, ping_interval=None)
            await ws.send(MESSAGE)
            assert await ws.recv() == MESSAGE
            return ws

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def closed(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets))


async def held(url: str, count: int, containers: Containers) -> dict[str, Any]:
    before = containers.memory()
    started = time.monotonic()
    sockets = await opened(url, count)
    took = time.monotonic() - started
    await asyncio.sleep(2)  # what the servers allocate lazily, in
    after = containers.memory()
    await closed(sockets)
    per_socket = {service: per(after[service], before[service], count, 1024) for service in after}
    return {"sockets": count, "open_s": took, "memory_mib": after, "kib_per_socket": per_socket}


async def echoes(url: str, count: int, duration: float, containers: Containers) -> dict[str, Any]:
    sockets = await opened(url, count)
    latencies: list[float] = []

    async def loop(ws: ClientConnection, until: float) -> None:
        while time.monotonic() < until:
            sent = time.perf_counter()
            await ws.send(MESSAGE)
            await ws.recv()
            latencies.append(time.perf_counter() - sent)

    cpu, client = containers.cpu_s(), time.process_time()
    started = time.monotonic()
    await asyncio.gather(*(loop(ws, started + duration) for ws in sockets))
    took = time.monotonic() - started
    cpu_after, client_after = containers.cpu_s(), time.process_time()
    await closed(sockets)
    trips = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100) if trips > 1 else [math.nan] * 99
    return {
        "sockets": count,
        "round_trips_per_s": trips / took,
        "latency_ms": {"p50": quantiles[49] * 1000, "p99": quantiles[98] * 1000},
        "cpu_us_per_round_trip": {service: per(cpu_after[service], cpu[service], trips, 1e6) for service in cpu}
        | {"client": per(client_after, client, trips, 1e6)},
        "client_cpu_share": (client_after - client) / took,
    }


def bench_server(server: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    workers = int(os.environ.get("WEBSOCKET_WORKERS") or compose_defaults("ws/compose.yaml")["WEBSOCKET_WORKERS"])
    threads = math.ceil(max(args.hold, *args.sockets) / workers)
    env = {
        **os.environ,
        "APP_SERVER": server,
        "HTTP_BIND": "127.0.0.1",
        "HTTP_PORT": str(port),
        "IMAGE_TAG": "bench",
        "APP_DIR": "tests/app",
        "WEBSOCKET_WORKERS": str(workers),
        "WEBSOCKET_THREADS": str(threads),
        "APP_PIDS_LIMIT": str(ws_tasks_needed(workers, threads)),
    }
    log(f"{server}: up (ws: {workers} workers x {threads} threads)")
    compose(env, "up", "--build", "--detach", "--wait", "--remove-orphans")
    try:
        containers = Containers(env)
        url = f"ws://127.0.0.1:{port}{ECHO}"
        log(f"{server}: holding {args.hold} sockets")
        result: dict[str, Any] = {"ws": {"workers": workers, "threads": threads}}
        result["held"] = asyncio.run(held(url, args.hold, containers))
        result["echo"] = []
        for count in args.sockets:
            log(f"{server}: echo on {count} sockets for {args.duration} s")
            result["echo"].append(asyncio.run(echoes(url, count, args.duration, containers)))
        return result
    finally:
        compose(env, "down", "--volumes", "--remove-orphans")


def cell(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"WebSockets through nginx, {report['date']}, {report['machine']}; client on the host, "
        f"{report['duration_s']} s per measurement, messages of {len(MESSAGE)} bytes.",
        "",
        "| server | sockets held | open them | ws memory per socket | nginx memory per socket |",
        "| --- | --- | --- | --- | --- |",
    ]
    for server, result in report["servers"].items():
        held_ = result["held"]
        lines.append(
            f"| {server} | {held_['sockets']} | {cell(held_['open_s'], 1)} s | "
            f"{cell(held_['kib_per_socket']['ws'])} KiB | {cell(held_['kib_per_socket']['nginx'])} KiB |"
        )
    lines += [
        "",
        "| server | sockets | round trips/s | p50 ms | p99 ms | ws CPU µs/trip | nginx CPU µs/trip | client CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for server, result in report["servers"].items():
        for row in result["echo"]:
            cpu = row["cpu_us_per_round_trip"]
            lines.append(
                f"| {server} | {row['sockets']} | {cell(row['round_trips_per_s'])} | "
                f"{cell(row['latency_ms']['p50'], 2)} | {cell(row['latency_ms']['p99'], 2)} | "
                f"{cell(cpu['ws'])} | {cell(cpu['nginx'])} | {cell(row['client_cpu_share'] * 100)} % |"
            )
    return "\n".join(lines) + "\n"


def splice_readme(text: str) -> None:
    """The figures into ws/README.md between its marks: the run owns them."""
    readme = ROOT / "ws" / "README.md"
    start, end = "<!-- make bench-websocket -->", "<!-- /make bench-websocket -->"
    head, _, rest = readme.read_text().partition(start)
    if not rest or end not in rest:
        log(f"ws/README.md has no {start} ... {end} section: left as it is")
        return
    readme.write_text(f"{head}{start}\n{text}{end}{rest.split(end, 1)[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--servers", nargs="+", default=["uwsgi", "gunicorn"], choices=["uwsgi", "gunicorn"])
    parser.add_argument("--hold", type=int, default=1000, help="sockets held at once (default 1000)")
    parser.add_argument("--sockets", type=int, nargs="+", default=[1, 16, 64], help="echo at these counts")
    parser.add_argument("--duration", type=float, default=5, help="seconds per echo measurement (default 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "ws" / "bench")
    args = parser.parse_args()
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}",
        "duration_s": args.duration,
        "servers": {server: bench_server(server, args) for server in args.servers},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "results.md").write_text(text)
    splice_readme(text)
    print(text)
    log(f"wrote {args.out}/results.json and results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
