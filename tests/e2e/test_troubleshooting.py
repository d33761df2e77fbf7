"""Failures provoked on purpose, each checked for the log line README's Troubleshooting names."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from .load import figure
from .stack import Stack, StackFactory, broken_app


def nginx_errors(stack: Stack) -> list[str]:
    return [line for line in stack.messages("nginx") if "[error]" in line or "[crit]" in line]


def test_socket_failures_are_502s_with_their_errno_in_nginxs_log(own_stack: Stack) -> None:
    stack = own_stack

    # (13) The socket not writable by nginx's group: a permissions mistake.
    stack.exec("app", "chmod", "0600", stack.socket)
    assert stack.get("/api/whoami").status_code == 502
    assert any(
        f"connect() to unix:{stack.socket} failed (13: Permission denied)" in line for line in nginx_errors(stack)
    )
    stack.exec("app", "chmod", "0660", stack.socket)
    assert stack.get("/api/whoami").status_code == 200

    # (2) No socket at all: the app is not running (a graceful stop removes the socket).
    stack.compose("stop", "app")
    assert stack.get("/api/whoami").status_code == 502
    assert any("(2: No such file or directory)" in line for line in nginx_errors(stack))

    # (111) A socket file nobody listens on: what a killed server leaves until it restarts.
    # (at the file the link points to: app.sock is a link to the container's own socket)
    bind_and_exit = (
        f"import os, socket; os.umask(0o117); socket.socket(socket.AF_UNIX).bind(os.path.realpath({stack.socket!r}))"
    )
    stack.compose("run", "--rm", "--no-deps", "--entrypoint", "python3", "app", "-c", bind_and_exit)
    assert stack.get("/api/whoami").status_code == 502
    assert any("(111: Connection refused)" in line for line in nginx_errors(stack))


def test_a_stuck_request_is_cut_and_says_so(new_stack: StackFactory, backend: str) -> None:
    stack = new_stack(APP_TIMEOUT="2")
    response = stack.get("/api/slow?seconds=15", timeout=30)
    # The server kills the worker at APP_TIMEOUT; nginx sees the connection close.
    assert response.status_code == 502
    assert any("upstream prematurely closed connection" in line for line in nginx_errors(stack))
    # The server says so in its log, which may come a moment after nginx's 502.
    said = "HARAKIRI ON WORKER" if backend == "uwsgi" else "WORKER TIMEOUT"
    stack.logged("app", lambda line: said in line)
    app = "\n".join(stack.messages("app"))
    if backend == "uwsgi":
        assert "HARAKIRI ON WORKER" in app
    else:
        assert "WORKER TIMEOUT" in app
        # The worker's stack when it was aborted (gunicorn.conf.py, worker_abort).
        assert "in slow" in app
        assert "most recent call first" in app


def test_with_threads_nginx_cuts_a_stuck_request_with_504(new_stack: StackFactory) -> None:
    # APP_THREADS > 1: neither server's limit is a per-request one any more
    # (docs/reliability.md); nginx's own, APP_TIMEOUT + 5 s, still ends the request.
    stack = new_stack(APP_TIMEOUT="60", APP_THREADS="2")
    stack.exec(
        "nginx",
        "sh",
        "-c",
        "sed -i 's/_read_timeout 65s/_read_timeout 2s/' /tmp/nginx/conf.d/app.conf && nginx -s reload",
    )
    time.sleep(1)  # nginx's new workers take over
    response = stack.get("/api/slow?seconds=10", timeout=30)
    assert response.status_code == 504
    assert response.json()["error"] == "Gateway Timeout"
    assert any("upstream timed out (110: Connection timed out)" in line for line in nginx_errors(stack))


def test_a_full_listen_queue_is_named_in_nginxs_log(new_stack: StackFactory, backend: str) -> None:
    stack = new_stack(APP_BACKLOG="16", APP_WORKERS="1", APP_THREADS="1")
    codes: list[int] = []

    def slow() -> None:
        codes.append(requests.get(stack.url("/api/slow?seconds=0.3"), timeout=60).status_code)

    clients = [threading.Thread(target=slow) for _ in range(40)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=90)
    figure(f"[full listen queue] {backend}: 40 concurrent slow requests, backlog 16, one worker: {sorted(set(codes))}")
    assert len(codes) == 40
    # One request in the worker, 16 queued; the rest are refused at connect().
    assert codes.count(502) > 0
    assert any("(11: Resource temporarily unavailable)" in line for line in nginx_errors(stack))


def test_an_app_that_cannot_import_stops_up_at_once_and_says_why(new_stack: StackFactory, tmp_path: Path) -> None:
    stack = new_stack(broken_app(tmp_path), start=False)
    stack.up_fails()
    assert "ModuleNotFoundError: No module named 'no_such_module'" in "\n".join(stack.messages("app"))
    # nginx never started, so nothing ever answered 502 for the broken app.
    assert stack.state("nginx")["Status"] == "created"
