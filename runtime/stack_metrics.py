"""Prometheus metrics of the app, counted in every worker and served from one place.

prometheus-flask-exporter's metrics, under its names: flask_http_request_duration_seconds (a
histogram by method, route and status: its _count is the request count), flask_http_request_total
and flask_http_request_exceptions_total; plus flask_http_requests_in_progress and
stack_request_slots (workers x threads: the in-progress count's ceiling). The route is the
URL rule (/user/<id>), never the raw path; "unmatched" when no rule matched, a 404 or 405.

Pre-forking servers: prometheus_client's multiprocess mode. Each worker writes its values to
files of its own under PROMETHEUS_MULTIPROC_DIR (the app's tmpfs, emptied by `stackctl serve`)
and the collector adds them up at each scrape, so a worker that is recycled or killed loses
nothing it counted. A dead worker's in-flight gauge is dropped at the next scrape, and a new
worker clears any left under its PID. The metrics are served over HTTP on APP_METRICS_PORT by a
process uWSGI's master runs beside its workers (`stackctl metrics`, an attached daemon), not by a
thread of it: uWSGI forks its workers without taking the GIL, and a worker forked while that
thread held it hung for good. Gunicorn's master, whose forks are Python's, serves them from a
thread. On the app's own networks only, never through nginx.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Flask, Request, request
from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_flask_exporter.multiprocess import MultiprocessPrometheusMetrics

import stack_stop

LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


class StackMetrics(MultiprocessPrometheusMetrics):  # type: ignore[misc]  # untyped
    """The exporter's multiprocess metrics, counted by every worker; served by serve_forever()."""

    registry: Any

    def info(self, *args: Any, **kwargs: Any) -> Any:
        """As the exporter's, but not registered: in multiprocess mode the collector already reads
        the gauge from its file, and flask_exporter_info was exposed twice."""
        registry, self.registry = self.registry, None
        try:
            return super().info(*args, **kwargs)
        finally:
            self.registry = registry


class DeadWorkers:
    """A collector that yields nothing: before the multiprocess collector reads the files, it
    drops the live gauges of workers that are gone (killed ones never say so)."""

    def collect(self) -> Iterator[Metric]:
        for path in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).iterdir():
            if (match := LIVE_GAUGE_FILE.match(path.name)) and not alive(int(match.group(1))):
                mark_process_dead(int(match.group(1)))  # type: ignore[no-untyped-call]
        return iter(())


def alive(pid: int) -> bool:
    """Running: a killed worker its master has not reaped yet (a zombie, for up to the master's
    next loop) is dead, and its in-flight request with it."""
    seen = stack_stop.process(pid)
    return seen is not None and seen.state != "Z"


def route(current: Request) -> str:
    """The request's URL rule: bounded label values, whatever paths clients send."""
    return current.url_rule.rule if current.url_rule is not None else "unmatched"


def setup(app: Flask, excluded: list[str], master: bool, port: int | None, slots: int) -> None:
    """Count the app's requests (not those under `excluded`, regexes), with `slots`, the requests
    the server handles at once, to measure saturation against, set by its `master`; from there,
    serve them on `port` unless another process does."""
    # Counted into files (PROMETHEUS_MULTIPROC_DIR), which `stackctl metrics` serves: this
    # registry is never read.
    StackMetrics(app, registry=CollectorRegistry(), group_by=route, excluded_paths=excluded)
    in_progress = Gauge(
        "flask_http_requests_in_progress",
        "Requests the app's workers are handling now",
        multiprocess_mode="livesum",
        registry=None,
    )

    skipped = [re.compile(pattern) for pattern in excluded]

    @app.before_request
    def started() -> None:
        if not any(pattern.match(request.path) for pattern in skipped):
            request.environ["stack.in_progress"] = True
            in_progress.inc()

    @app.teardown_request
    def finished(exception: BaseException | None) -> None:
        if request.environ.pop("stack.in_progress", False):
            in_progress.dec()

    # A new worker may have the PID of a dead one: its in-flight count is not this worker's.
    os.register_at_fork(after_in_child=lambda: mark_process_dead(os.getpid()))  # type: ignore[no-untyped-call]
    if master:
        # Set once: the largest value any process wrote is the one exposed.
        Gauge(
            "stack_request_slots",
            "Requests the app server handles at once: APP_WORKERS x APP_THREADS",
            multiprocess_mode="max",
            registry=None,
        ).set(slots)
        if port is not None:
            # Gunicorn's master forks with Python's os.fork, which runs these hooks: no fork while
            # the thread is busy. A worker forked while it held an import's lock (a codec looked
            # up for the first time) waited for it for good, and its requests with it.
            busy = threading.Lock()
            os.register_at_fork(before=busy.acquire, after_in_parent=busy.release, after_in_child=busy.release)
            threading.Thread(target=serve_forever, args=(port, busy), name="metrics", daemon=True).start()


class QuietHandler(WSGIRequestHandler):
    # A scrape that stalls is cut: while one is served, the thread's server holds off forks.
    timeout = 5

    def log_message(self, format: str, *args: Any) -> None:  # the base class's name
        """Prometheus scrapes every few seconds: no line for each."""


def serve_forever(port: int, busy: threading.Lock | None = None) -> None:
    """Every worker's metrics on `port`, one scrape at a time: `stackctl metrics` beside uWSGI's
    master, a thread of Gunicorn's, which holds `busy` whenever it is not waiting for a scrape."""
    guard = busy if busy is not None else contextlib.nullcontext()
    with guard:
        registry = CollectorRegistry()
        registry.register(DeadWorkers())  # first: it must run before the multiprocess collector
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        server = make_server("", port, make_wsgi_app(registry), handler_class=QuietHandler)
    while True:
        select.select([server], [], [])
        with guard:
            server.handle_request()
