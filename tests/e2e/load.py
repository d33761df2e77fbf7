"""Bounded background load on a running stack, and what it saw."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from .stack import Site

# What the running test measured, until conftest.py moves it into the test's report, from which
# tests/results.py prints it at the end of the session and writes test-results/figures.txt: in
# CI's log whatever the outcome, from every xdist worker.
FIGURES: list[str] = []


def figure(text: str) -> None:
    FIGURES.append(text)
    print(f"\n{text}")


@dataclass
class Outcome:
    started: float  # monotonic
    status: int | None  # None: no HTTP response at all
    error: str = ""
    pid: int | None = None
    body: str = ""
    content_type: str = ""


@dataclass
class Load:
    """Every request the clients sent, in the order they finished."""

    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def record(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.status != 200]

    def pids(self) -> set[int]:
        return {o.pid for o in self.snapshot() if o.pid is not None}

    def successes_after(self, moment: float) -> int:
        return sum(1 for o in self.snapshot() if o.status == 200 and o.started > moment)

    def wait_until(self, condition: Callable[[Load], bool], seconds: float) -> bool:
        """Let the load run until `condition` holds or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while not condition(self):
            if time.monotonic() > deadline or self.stop.is_set():
                return False
            time.sleep(0.1)
        return True

    def summary(self) -> str:
        outcomes = self.snapshot()
        statuses: dict[str, int] = {}
        for o in outcomes:
            key = str(o.status) if o.status is not None else f"no response ({o.error})"
            statuses[key] = statuses.get(key, 0) + 1
        span = outcomes[-1].started - outcomes[0].started if outcomes else 0.0
        return f"{len(outcomes)} requests over {span:.1f} s, {len(self.failures)} failed; by status: {statuses}"


@contextlib.contextmanager
def steady_load(
    stack: Site,
    path: str = "/api/whoami",
    *,
    clients: int = 4,
    max_seconds: float = 90,
    max_requests: int = 50_000,
    timeout: float = 60,
) -> Iterator[Load]:
    """`clients` threads requesting `path` back to back until the block ends (or a bound is hit)."""
    load = Load()
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        with stack.new_session() as session:
            while not load.stop.is_set() and time.monotonic() < deadline and len(load.outcomes) < max_requests:
                started = time.monotonic()
                try:
                    response = session.get(stack.url(path), timeout=timeout)
                except requests.RequestException as error:
                    load.record(Outcome(started, None, type(error).__name__))
                    continue
                pid = None
                if response.status_code == 200 and response.headers.get("Content-Type") == "application/json":
                    pid = response.json().get("pid")
                body = "" if response.status_code == 200 else response.text
                load.record(
                    Outcome(started, response.status_code, "", pid, body, response.headers.get("Content-Type", ""))
                )

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=timeout + 5)
