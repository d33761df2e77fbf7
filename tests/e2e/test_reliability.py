"""Reloads, recycling, stops, crashes and stuck requests, provoked for real under bounded load.

Each test runs a stack of its own and prints what it measured, so the figures show in the log
(docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from .load import Load, Outcome, figure, steady_load
from .stack import ROOT, SETTINGS, Stack, StackFactory, broken_app

# Added to the app's wsgi.py, the one file every app has.
NEW_ROUTE = """

@app.get("/api/version")
def version():
    return {"version": 2}
"""


def assert_502s_are_the_stacks_page(failures: list[Outcome], in_flight: int) -> None:
    """Every failure is nginx's 502 with the stack's JSON page, not nginx's own, except at most
    the `in_flight` requests a process was answering when it died: those end without a response.
    """
    cut = [outcome for outcome in failures if outcome.status is None]
    assert len(cut) <= in_flight, cut
    for outcome in failures:
        if outcome.status is not None:
            assert outcome.status == 502, outcome
            assert outcome.content_type == "application/json", outcome
            page = json.loads(outcome.body)
            assert (page["status"], page["error"]) == (502, "Bad Gateway"), page
            assert page["request_id"], page


def report(name: str, backend: str, load: Load, extra: str = "") -> None:
    figure(f"[{name}] {backend}: {load.summary()}{'; ' + extra if extra else ''}")


def test_make_reload_under_load_drops_nothing_and_serves_new_code_and_settings(
    new_stack: StackFactory, backend: str, tmp_path: Path
) -> None:
    # The code is a mounted copy, so the test can change it without building an image.
    source = tmp_path / "app"
    shutil.copytree(ROOT / SETTINGS["APP_DIR"], source, ignore=shutil.ignore_patterns("__pycache__"))
    mounted = tmp_path / "mounted.yaml"
    mounted.write_text(f"services:\n  app:\n    volumes:\n      - {source}:/srv/app:ro\n")
    stack = new_stack(mounted)
    old = stack.container("app")
    assert stack.get("/api/version").status_code == 404
    with (source / "wsgi.py").open("a") as entry:
        entry.write(NEW_ROUTE)
    with steady_load(stack) as load:
        assert load.wait_until(lambda load: len(load.outcomes) >= 50, 30)
        started = time.monotonic()
        reload = stack.make("reload", APP_MAX_REQUESTS="4321")
        took = time.monotonic() - started
        assert load.wait_until(lambda load: load.successes_after(started + took) >= 100, 30)
    report("reload", backend, load, f"make reload took {took:.1f} s")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert load.failures == []
    new = stack.container("app")
    assert new.count("\n") == 0, f"not exactly one app container: {new}"
    assert new != old
    assert stack.get("/api/version").json() == {"version": 2}
    assert "APP_MAX_REQUESTS=4321" in stack.inspect("app", "{{json .Config.Env}}")


def test_make_reload_of_a_broken_version_leaves_the_old_one_serving(
    new_stack: StackFactory, backend: str, tmp_path: Path
) -> None:
    broken = broken_app(tmp_path)
    stack = new_stack()
    old = stack.container("app")
    with steady_load(stack) as load:
        assert load.wait_until(lambda load: len(load.outcomes) >= 50, 30)
        reload = stack.make("reload", broken)
        assert load.wait_until(lambda load: len(load.outcomes) >= 200, 30)
    report("broken reload", backend, load)
    assert reload.returncode != 0
    assert "the old container keeps serving" in reload.stderr
    assert "No module named 'no_such_module'" in reload.stderr
    assert load.failures == []
    assert stack.container("app") == old
    assert stack.get("/healthz").json() == {"status": "ok", "server": backend}


def test_workers_recycled_after_max_requests_drop_nothing(new_stack: StackFactory, backend: str) -> None:
    # uWSGI recycles a worker only after it has lived min-worker-lifetime (10 s), hence the wait.
    stack = new_stack(APP_WORKERS="2", APP_MAX_REQUESTS="100", APP_MAX_REQUESTS_JITTER="20")
    first = stack.worker_pids()
    with steady_load(stack, max_seconds=60) as load:
        recycled = load.wait_until(lambda load: len(load.pids() - first) >= 4, 45)
    report("recycling", backend, load, f"{len(load.pids())} worker PIDs answered")
    assert recycled, "workers were not recycled"
    assert load.failures == []
    assert len(stack.worker_pids()) == 2


def stopped_during_a_request(
    stack: Stack, seconds: float, *command: str
) -> tuple[requests.Response | BaseException | None, float, subprocess.CompletedProcess[str]]:
    """A request of `seconds` in flight while `docker compose COMMAND` runs: its answer (or
    error), how long the command took, and its result."""
    result: dict[str, requests.Response | BaseException] = {}

    def slow_request() -> None:
        try:
            result["response"] = stack.get(f"/api/slow?seconds={seconds}", timeout=30)
        except requests.RequestException as error:
            result["response"] = error

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.5)  # let the request reach a worker before the stop signal
    started = time.monotonic()
    done = stack.compose(*command, check=False, timeout=120)
    took = time.monotonic() - started
    client.join(timeout=30)
    return result.get("response"), took, done


@pytest.mark.smoke
@pytest.mark.parametrize("command", ["stop", "down"])
def test_stop_and_down_let_the_request_in_flight_finish(own_stack: Stack, command: str) -> None:
    stack = own_stack
    # Docker's SIGKILL comes this long after the stop signal (compose.yaml's stop_grace_period).
    grace = int(stack.inspect("app", "{{.Config.StopTimeout}}"))
    # The app's state is read after `stop`, before anything removes its container.
    response, took, done = stopped_during_a_request(
        stack, 3, *(["stop"] if command == "stop" else ["down", "--volumes"])
    )
    figure(f"[graceful {command}] {stack.backend}: `docker compose {command}` took {took:.1f} s")

    assert done.returncode == 0, done.stderr
    assert isinstance(response, requests.Response), f"in-flight request failed: {response!r}"
    assert response.status_code == 200
    assert response.json()["server"] == stack.backend
    # Before the stop grace period ran out: nobody waited for Docker's SIGKILL, under arm64
    # emulation too (make test-arm64), where the workers' exit is slowest.
    assert took < grace, f"{took:.1f} s, grace period {grace} s"
    if command == "stop":
        for service in ("app", "nginx"):
            state = stack.state(service)
            assert (state["Status"], state["ExitCode"]) == ("exited", 0), f"{service}: {state}"


def test_a_request_outliving_the_grace_period_is_cut_at_it_with_the_stacks_502(new_stack: StackFactory) -> None:
    """Stop gives requests APP_GRACEFUL_TIMEOUT, then both servers kill what is left: nginx answers
    502 with the stack's page, and the app exits by itself, before Docker's SIGKILL."""
    grace = 3
    stack = new_stack(APP_GRACEFUL_TIMEOUT=str(grace))
    response, took, done = stopped_during_a_request(stack, 12, "stop", "app")
    figure(f"[stop past the grace period] {stack.backend}: `docker compose stop app` {took:.1f} s, grace {grace} s")

    assert done.returncode == 0, done.stderr
    assert isinstance(response, requests.Response), f"no answer: {response!r}"
    assert response.status_code == 502, response.text
    page = response.json()
    assert (page["status"], page["error"]) == (502, "Bad Gateway"), page
    # At the bound, then Docker's own stop and the master's last loops (a second each): seconds,
    # far from the 30 s of Docker's SIGKILL.
    assert grace <= took < grace + 5, f"{took:.1f} s"
    state = stack.state("app")
    # Exited by itself: 137 would be Docker's SIGKILL at the end of stop_grace_period.
    assert state["Status"] == "exited", state
    assert state["ExitCode"] != 137, state


def test_a_crashed_app_comes_back_by_itself_and_nginx_says_so_meanwhile(own_stack: Stack) -> None:
    stack = own_stack
    nginx_started = stack.state("nginx")["StartedAt"]
    with steady_load(stack, max_seconds=60) as load:
        assert load.wait_until(lambda load: len(load.outcomes) >= 50, 30)
        # SIGKILL from the kernel's side, as the OOM killer would: Docker's own `kill` counts as
        # a manual stop, which the restart policy respects.
        killed = time.monotonic()
        os.kill(stack.host_pid("app"), signal.SIGKILL)
        assert load.wait_until(lambda load: load.failures != [] and load.successes_after(killed + 0.5) > 100, 45)
    failures = load.failures
    last_failure = max(o.started for o in failures)
    back = min(o.started for o in load.snapshot() if o.status == 200 and o.started > last_failure)
    report("crash", stack.backend, load, f"served again {back - killed:.2f} s after SIGKILL")

    assert_502s_are_the_stacks_page(failures, in_flight=4)
    assert stack.inspect("app", "{{.RestartCount}}") == "1"
    assert stack.state("nginx")["StartedAt"] == nginx_started, "nginx was restarted"


def test_the_html_error_page_while_the_app_is_down(own_stack: Stack) -> None:
    stack = own_stack
    stack.compose("stop", "app")
    page = stack.get("/")
    api = stack.get("/api/whoami")
    assert page.status_code == api.status_code == 502
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in page.text
    assert page.headers["X-Request-ID"] in page.text
    assert "<center>nginx</center>" not in page.text
    assert api.json() == {
        "error": "Bad Gateway",
        "status": 502,
        "detail": "The application is not answering: it is restarting, or it ended the request. Try again shortly.",
        "request_id": api.headers["X-Request-ID"],
    }
    assert api.headers["Retry-After"] == "5"
    assert api.headers["Cache-Control"] == "no-store"


def test_one_dead_worker_is_replaced_while_the_others_serve(own_stack: Stack) -> None:
    stack = own_stack
    workers = stack.worker_pids()
    with steady_load(stack, max_seconds=60) as load:
        assert load.wait_until(lambda load: len(load.outcomes) >= 50, 30)
        victim = min(workers)
        killed = time.monotonic()
        stack.kill_worker(victim)
        assert load.wait_until(lambda load: load.successes_after(killed) > 200, 30)
    now = stack.wait_for_replacement(workers, gone=victim)
    report("worker killed", stack.backend, load, f"workers {sorted(workers)} -> {sorted(now)}")
    assert victim not in now
    # At most the one request the worker was running (one at a time, APP_THREADS=1) is lost.
    assert len(load.failures) <= 1
    assert_502s_are_the_stacks_page(load.failures, in_flight=1)


def test_a_stuck_request_is_cut_by_the_app_server_and_nothing_else_notices(
    new_stack: StackFactory, backend: str
) -> None:
    stack = new_stack(APP_TIMEOUT="3", APP_WORKERS="3")
    workers = stack.worker_pids()
    stuck: dict[str, object] = {}

    def stuck_request() -> None:
        started = time.monotonic()
        response = requests.get(stack.url("/api/slow?seconds=30"), timeout=40)
        stuck.update(response=response, seconds=time.monotonic() - started)

    client = threading.Thread(target=stuck_request)
    with steady_load(stack, clients=2, max_seconds=30) as load:
        client.start()
        client.join(timeout=40)
    response = stuck["response"]
    assert isinstance(response, requests.Response)
    report("stuck request", backend, load, f"stuck one answered {response.status_code} after {stuck['seconds']:.1f} s")

    # The app server's limit (3 s; both check once a second), not nginx's (3 + 5 s), with the
    # stack's page.
    assert response.status_code == 502
    assert response.json()["error"] == "Bad Gateway"
    assert 2 <= stuck["seconds"] < 7  # type: ignore[operator]
    assert load.failures == []
    assert len(load.outcomes) > 100
    stack.wait_for_replacement(workers)
    said = "HARAKIRI" if backend == "uwsgi" else "WORKER TIMEOUT"
    assert stack.logged("app", lambda line: said in line)


def test_a_burst_of_300_connections_to_a_slow_endpoint_is_queued_not_refused(own_stack: Stack) -> None:
    stack = own_stack
    codes: list[int | str] = []
    lock = threading.Lock()

    def slow() -> None:
        try:
            code: int | str = requests.get(stack.url("/api/slow?seconds=0.1"), timeout=60).status_code
        except requests.RequestException as error:
            code = type(error).__name__
        with lock:
            codes.append(code)

    clients = [threading.Thread(target=slow) for _ in range(300)]
    started = time.monotonic()
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=90)
    took = time.monotonic() - started
    workers = len(stack.worker_pids())
    figure(
        f"[backlog] {stack.backend}: 300 concurrent requests of 0.1 s, {workers} workers: {took:.1f} s, "
        f"statuses {sorted(set(codes), key=str)}"
    )
    assert codes == [200] * 300


def test_stalled_and_trickling_clients_never_reach_the_app_and_others_are_served(
    new_stack: StackFactory, backend: str
) -> None:
    # One worker: if nginx passed a slow client on, everyone else would wait behind it.
    # The server's access log on: the app's log would show any stalled request that reached it.
    stack = new_stack(CLIENT_TIMEOUT="2s", APP_WORKERS="1", APP_ACCESS_LOG="on")
    port = int(stack.base_url.rsplit(":", 1)[1])
    stalled = []
    for _ in range(20):
        head = socket.create_connection(("127.0.0.1", port), timeout=15)
        head.sendall(b"GET /api/whoami?stalled-head HTTP/1.1\r\nHost: t\r\nX-Half: ")
        body = socket.create_connection(("127.0.0.1", port), timeout=15)
        body.sendall(b"POST /api/echo?stalled-body HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc")
        stalled += [head, body]

    trickled: dict[str, object] = {}

    def trickle() -> None:
        # A byte every 0.5 s never pauses past the timeout: nginx keeps reading, the app waits
        # for nothing, and gets the body whole at the end.
        with socket.create_connection(("127.0.0.1", port), timeout=15) as slow:
            slow.sendall(b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\nConnection: close\r\n\r\n")
            for byte in b"trickled":
                time.sleep(0.5)
                slow.sendall(bytes([byte]))
            trickled["reply"] = slow.recv(65536)

    trickler = threading.Thread(target=trickle)
    trickler.start()
    latencies: list[float] = []
    while trickler.is_alive() and len(latencies) < 5000:
        started = time.monotonic()
        assert stack.get("/api/whoami", timeout=5).status_code == 200
        latencies.append(time.monotonic() - started)
    trickler.join(timeout=15)

    for connection in stalled:
        try:
            data = connection.recv(65536)  # b"": nginx closed it; it answers a timeout with no page
        except ConnectionResetError:  # reset_timedout_connection
            data = b""
        connection.close()
        assert data == b""
    assert b"HTTP/1.1 200 OK" in trickled["reply"]  # type: ignore[operator]
    assert b'"bytes":8' in trickled["reply"]  # type: ignore[operator]
    shed = stack.logged_json("nginx", lambda entry: "stalled" in str(entry.get("uri")))
    held = max(float(line["request_time"]) for line in shed)
    figure(
        f"[slow clients] {backend}: 40 stalled clients cut after at most {held:.2f} s (CLIENT_TIMEOUT 2 s); "
        f"{len(latencies)} requests served meanwhile, slowest {max(latencies) * 1000:.0f} ms"
    )
    assert len(shed) == 40
    assert {(line["status"], line["upstream_time"]) for line in shed} == {(408, "")}
    assert held < 3
    assert max(latencies) < 1
    assert not [line for line in stack.messages("app") if "stalled" in line]


def test_the_app_server_holds_idle_connections_longer_than_nginx_does(new_stack: StackFactory, backend: str) -> None:
    # With threads Gunicorn runs gthread, which keeps nginx's connections alive.
    stack = new_stack(APP_THREADS="4", APP_KEEPALIVE="18")
    if backend == "uwsgi":
        # The uwsgi protocol has no keep-alive: the server closes after every response (the
        # healthcheck reads to the end of the stream), so nginx never reuses a connection.
        stack.exec("app", "stackctl", "health")
        return
    upstream = stack.exec("nginx", "cat", "/tmp/nginx/conf.d/http.conf")
    nginx_idle = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))  # type: ignore[union-attr]
    lines = stack.probe("app", "idle_upstream", stack.socket, str(nginx_idle), "18").splitlines()
    figure(f"[upstream keepalive] {backend}: nginx keeps idle connections {nginx_idle} s, Gunicorn 18 s: {lines}")
    # A request nginx sends down its oldest idle connection is answered...
    assert lines[:2] == ["fresh 200 200", "after-nginx-idle 200"]
    # ...and the probe would have seen Gunicorn close it, had it closed first.
    assert lines[2].split()[1] in {"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError"}, lines
