"""Request IDs and logs: one ID from the response into nginx's log and the app's."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from .stack import Stack, StackFactory

GENERATED = re.compile(r"^[0-9a-f]{32}$")


def test_the_containers_own_healthcheck_is_not_logged_but_an_outside_check_is(stack: Stack) -> None:
    outside = stack.get("/healthz", headers={"User-Agent": "stack-healthcheck"}).headers["X-Request-ID"]
    assert stack.logged_json("nginx", lambda entry: entry["request_id"] == outside)
    entries = stack.json_messages("nginx")
    assert not any(
        entry.get("user_agent") == "stack-healthcheck" and entry["remote_addr"] == "127.0.0.1" for entry in entries
    )


def test_one_id_is_followed_from_the_response_into_nginx_and_app_logs(stack: Stack) -> None:
    response = stack.post("/api/echo", data=b"trace me")
    trace = response.headers["X-Request-ID"]

    nginx = stack.logged_json("nginx", lambda entry: entry.get("request_id") == trace)
    assert len(nginx) == 1, "nginx logs each request once, as JSON"
    assert nginx[0]["method"] == "POST"
    assert nginx[0]["uri"] == "/api/echo"
    assert nginx[0]["status"] == 200
    assert nginx[0]["bytes"] == len(response.content)
    assert isinstance(nginx[0]["request_time"], float)
    assert nginx[0]["upstream_time"] not in ("", "-")

    app = [entry for entry in stack.json_messages("app") if entry.get("request_id") == trace]
    assert [str(entry["message"]).split(":")[0] for entry in app] == ["echo"]
    # By default the WSGI server does not log the request a second time.
    assert not [line for line in stack.messages("app") if f"id={trace}" in line]


def test_server_access_log_can_be_switched_on_and_carries_the_id(new_stack: StackFactory, backend: str) -> None:
    stack = new_stack(APP_ACCESS_LOG="on", LOG_FORMAT="text")
    trace = f"access-{uuid.uuid4()}"
    assert stack.get("/api/whoami", headers={"X-Request-ID": trace}).status_code == 200
    server_lines = [line for line in stack.messages("app") if line.startswith(f"[{backend}]")]
    assert any(f"id={trace}" in line and "/api/whoami" in line for line in server_lines), server_lines[-5:]
    nginx_lines = stack.logged("nginx", lambda line: f"id={trace}" in line)
    assert len(nginx_lines) == 1
    assert not nginx_lines[0].startswith("{")


def test_a_line_still_in_nginx_buffer_is_written_when_nginx_stops(new_stack: StackFactory) -> None:
    stack = new_stack()
    for attempt in range(3):
        trace = f"stop-{attempt}-{uuid.uuid4()}"
        assert stack.get("/api/whoami", headers={"X-Request-ID": trace}).status_code == 200
        # Not written yet (buffer=64k flush=1s); if it already was, the timing proves nothing: again.
        if not [line for line in stack.messages("nginx") if trace in line]:
            break
    else:
        pytest.fail("nginx wrote each access-log line at once: the buffer under test is not in use")
    # SIGQUIT is nginx's graceful stop (the image's STOPSIGNAL): what it holds must be written.
    subprocess.run(["docker", "kill", "--signal", "QUIT", stack.container("nginx")], check=True, timeout=30)
    subprocess.run(["docker", "wait", stack.container("nginx")], check=True, timeout=60, capture_output=True)
    assert len([line for line in stack.messages("nginx") if trace in line]) == 1


def test_the_trace_id_is_in_nginx_and_app_log_lines(stack: Stack) -> None:
    trace_id = uuid.uuid4().hex
    response = stack.post("/api/echo", data=b"trace me", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    request_id = response.headers["X-Request-ID"]
    nginx = stack.logged_json("nginx", lambda entry: entry.get("request_id") == request_id)
    assert [entry["trace_id"] for entry in nginx] == [trace_id]
    app = [entry for entry in stack.json_messages("app") if entry.get("request_id") == request_id]
    assert [entry["trace_id"] for entry in app] == [trace_id]
