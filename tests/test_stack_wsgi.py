"""What the stack adds to any Flask app (runtime/stack_wsgi.py), tested on a probe app of its own:
these hold whatever app a fork puts in app/."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.test import Client, EnvironBuilder

import stack_logs
import stack_metrics
import stack_wsgi


def probe_app(**config: Any) -> Flask:
    app = Flask("probe")
    app.config.update(config)

    @app.get("/where")
    def where() -> ResponseReturnValue:
        return jsonify(remote_addr=request.remote_addr, scheme=request.scheme, host=request.host, url=request.url)

    @app.post("/upload")
    def upload() -> ResponseReturnValue:
        return jsonify(bytes=len(request.get_data()))

    @app.post("/early")
    def early() -> ResponseReturnValue:
        return "answered without reading the body", 403

    return app


def client(app: Flask) -> Client:
    return Client(stack_wsgi.stack(app))


def test_the_client_address_scheme_and_host_are_nginxs_one_hop() -> None:
    # nginx overwrites these headers, so only their last hop is ever nginx's own.
    response = client(probe_app()).get(
        "/where",
        headers={
            "X-Forwarded-For": "203.0.113.1, 198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "example.org",
        },
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert response.json == {
        "remote_addr": "198.51.100.7",
        "scheme": "https",
        "host": "example.org",
        "url": "https://example.org/where",
    }


def test_the_body_limit_is_max_body_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_SIZE", "1k")
    app = client(probe_app())
    assert app.post("/upload", data=b"x" * 1024).json == {"bytes": 1024}
    assert app.post("/upload", data=b"x" * 1025).status_code == 413


def test_the_default_body_limit_is_10_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_BODY_SIZE", raising=False)
    app = probe_app()
    stack_wsgi.stack(app)
    assert app.config["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024


def test_a_body_limit_the_app_sets_itself_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_SIZE", "10m")
    app = probe_app(MAX_CONTENT_LENGTH=100)
    assert client(app).post("/upload", data=b"x" * 101).status_code == 413


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"SERVER_SOFTWARE": "gunicorn/27.0.1"}, "gunicorn"), ({"uwsgi.version": b"2.0.30"}, "uwsgi")],
)
def test_healthz_names_the_server_running_it(environ: dict[str, object], expected: str) -> None:
    response = client(probe_app()).get("/healthz", environ_base=environ)
    assert response.json == {"status": "ok", "server": expected}


def test_healthz_answers_only_get_and_head() -> None:
    assert client(probe_app()).post("/healthz").status_code == 405


def test_the_servers_load_the_app_from_app_wsgi() -> None:
    """stack_wsgi:app, what both servers load, is the app in app/wsgi.py with the stack's route."""
    import wsgi

    served = Client(stack_wsgi.app).get("/healthz", environ_base={"SERVER_SOFTWARE": "gunicorn/27.0.1"})
    assert served.status_code == 200
    assert stack_wsgi.flask_app is wsgi.app


class _Body(io.BytesIO):
    """A request body that records how much of it was read."""


@pytest.mark.parametrize(
    ("path", "status"), [("/early", "403"), ("/nope", "404"), ("/healthz", "405"), ("/upload", "200")]
)
def test_the_whole_body_is_read_before_an_answer(path: str, status: str) -> None:
    """An early answer (403, 404, 405) must not leave body bytes unread: nginx would get EPIPE (502)."""
    body = _Body(b"x" * 300_000)
    environ = EnvironBuilder(path=path, method="POST", input_stream=body, content_length=300_000).get_environ()
    started: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        started.append(status)
        return lambda data: None

    response = stack_wsgi.stack(probe_app())(environ, start_response)
    try:
        assert body.tell() == 0 or path == "/upload"  # nothing read yet by the early answers
        chunks = list(response)
    finally:
        getattr(response, "close", lambda: None)()
    assert body.tell() == 300_000
    assert started[0].split()[0] == status
    assert b"".join(chunks)


@contextlib.contextmanager
def logging_to(log_format: str) -> Iterator[io.StringIO]:
    """The stack's logging set up on a buffer; the root logger as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    lines = io.StringIO()
    stack_logs.configure(log_format, stream=lines)
    try:
        yield lines
    finally:
        root.handlers[:], root.level = handlers, level


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    with logging_to("json") as lines:
        yield lines


def test_an_apps_log_lines_carry_the_request_id_as_json(log_lines: io.StringIO) -> None:
    app = probe_app()

    @app.get("/log")
    def log() -> ResponseReturnValue:
        logging.getLogger("probe.views").info("handled %s", "it")
        app.logger.warning("and Flask's logger too")
        return "logged"

    assert client(app).get("/log", headers={"X-Request-ID": "trace-0001"}).status_code == 200
    entries = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [(e["logger"], e["level"], e["message"], e["request_id"]) for e in entries] == [
        ("probe.views", "INFO", "handled it", "trace-0001"),
        ("probe", "WARNING", "and Flask's logger too", "trace-0001"),
    ]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def traced_app() -> Flask:
    """A probe app whose /log logs one line."""
    app = probe_app()

    @app.get("/log")
    def log() -> ResponseReturnValue:
        app.logger.info("traced")
        return "logged"

    return app


def test_an_apps_log_lines_carry_the_w3c_trace_id_from_traceparent(log_lines: io.StringIO) -> None:
    served = client(traced_app())
    assert served.get("/log", headers={"traceparent": TRACEPARENT}).status_code == 200
    assert served.get("/log").status_code == 200
    entries = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [e["trace_id"] for e in entries] == [TRACE_ID, "-"]


def test_text_log_lines_carry_both_ids() -> None:
    with logging_to("text") as lines:
        client(traced_app()).get("/log", headers={"traceparent": TRACEPARENT, "X-Request-ID": "req-00000001"})
    assert f"id=req-00000001 trace={TRACE_ID} traced" in lines.getvalue()


def test_a_killed_worker_not_yet_reaped_is_dead_to_the_metrics() -> None:
    assert stack_metrics.alive(os.getpid())
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    try:
        assert stack_metrics.alive(child)
        os.kill(child, signal.SIGKILL)
        # Until the parent (a server's master) waits for it, the child is a zombie: dead.
        deadline = time.monotonic() + 10
        while stack_metrics.alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stack_metrics.alive(child)
        assert os.waitpid(child, os.WNOHANG) == (child, signal.SIGKILL)
    finally:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    assert not stack_metrics.alive(child)
