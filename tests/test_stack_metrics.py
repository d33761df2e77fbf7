"""runtime/stack_metrics.py: Gunicorn's master serves the metrics from a thread, and forks its
workers while it runs; a fork never happens while that thread is busy."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

import stack_metrics

SCRAPE_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_fork_waits_for_the_scrape_being_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    scraping = threading.Event()

    def slow(self: object) -> Iterator[object]:
        # What a scrape may do: import, look up a codec, take a lock a forked worker would need.
        scraping.set()
        time.sleep(SCRAPE_SECONDS)
        return iter(())

    monkeypatch.setattr(stack_metrics.DeadWorkers, "collect", slow)
    port = free_port()
    stack_metrics.setup(Flask(__name__), excluded=[], master=True, port=port, slots=1)
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline, "the metrics server never listened"
        time.sleep(0.05)
    scraped: list[float] = []
    scrape = threading.Thread(
        target=lambda: scraped.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).status)
    )
    scrape.start()
    assert scraping.wait(10)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    waited = time.monotonic() - started
    os.waitpid(pid, 0)
    scrape.join(10)
    assert scraped == [200]
    # The fork waited for the scrape's end (most of SCRAPE_SECONDS), not a moment of it.
    assert waited > SCRAPE_SECONDS / 2
