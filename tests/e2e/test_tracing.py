"""Request IDs and logs: one ID from the response into nginx's log and the app's."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .stack import BACKENDS, Stack, StackFactory, running_stack

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

    app = stack.logged_json("app", lambda entry: entry.get("request_id") == trace)
    assert [str(entry["message"]).split(":")[0] for entry in app] == ["echo"]
    # By default the WSGI server does not log the request a second time.
    assert not [line for line in stack.messages("app") if f"id={trace}" in line]


def test_server_access_log_can_be_switched_on_and_carries_the_id(new_stack: StackFactory, backend: str) -> None:
    stack = new_stack(APP_ACCESS_LOG="on", LOG_FORMAT="text")
    trace = f"access-{uuid.uuid4()}"
    assert stack.get("/api/whoami", headers={"X-Request-ID": trace}).status_code == 200
    server_lines = stack.logged("app", lambda line: line.startswith(f"[{backend}]") and f"id={trace}" in line)
    assert any("/api/whoami" in line for line in server_lines), stack.messages("app")[-5:]
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
    app = stack.logged_json("app", lambda entry: entry.get("request_id") == request_id)
    assert [entry["trace_id"] for entry in app] == [trace_id]


# protobuf's C extension, which only the OTLP exporter loads: mapped in a process that traces.
PROTOBUF_EXTENSION = "google/_upb/"


@pytest.fixture(scope="module", params=BACKENDS)
def traced(request: pytest.FixtureRequest, images: None) -> Iterator[tuple[Stack, Spans]]:
    """A stack with OpenTelemetry on, as shop-BACKEND, exporting every 100 ms to a receiver of the
    test's on its backend network; and spans(wanted), below."""
    with (
        running_stack(
            request.param,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_SERVICE_NAME=f"shop-{request.param}",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://otlp-receiver:4318/v1/traces",
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as stack,
        otlp_receiver(stack) as spans,
    ):
        yield stack, spans


Spans = Callable[[Callable[[dict[str, object]], bool], float], list[dict[str, object]]]


@contextlib.contextmanager
def otlp_receiver(stack: Stack) -> Iterator[Spans]:
    """A receiver on the stack's backend network as otlp-receiver; yields spans(wanted, seconds),
    which waits up to `seconds` for a span that `wanted` accepts and returns all such spans."""
    name = f"{stack.project}-otlp-receiver"
    program = (Path(__file__).parent / "probes" / "otlp_receiver.py").read_text()
    image = stack.inspect("app", "{{.Config.Image}}")
    network = ["--network", f"{stack.project}_backend", "--network-alias", "otlp-receiver"]
    subprocess.run(
        ["docker", "run", "--detach", "--name", name, *network, "--entrypoint", "python3", image, "-c", program],
        check=True,
        capture_output=True,
        timeout=60,
    )

    def lines() -> list[str]:
        result = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
        return (result.stdout + result.stderr).splitlines()

    def spans(wanted: Callable[[dict[str, object]], bool], seconds: float = 10) -> list[dict[str, object]]:
        deadline = time.monotonic() + seconds
        while True:
            found = [span for line in lines() if line.startswith("{") and wanted(span := json.loads(line))]
            if found or time.monotonic() > deadline:
                # One more export interval, so a second span for the same request would show too.
                time.sleep(0.5)
                return [span for line in lines() if line.startswith("{") and wanted(span := json.loads(line))]
            time.sleep(0.2)

    try:
        deadline = time.monotonic() + 30
        while "receiver: listening" not in lines() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield spans
    except BaseException as error:
        error.add_note("--- otlp receiver ---\n" + "\n".join(lines()[-50:]))
        raise
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=60)


def test_opentelemetry_spans_join_the_callers_trace_through_nginx(traced: tuple[Stack, Spans]) -> None:
    stack, spans = traced
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    traceparent = f"00-{trace_id}-{parent_id}-01"
    assert stack.get("/api/whoami", headers={"traceparent": traceparent}).status_code == 200
    received = spans(lambda span: span["trace_id"] == trace_id, 10)
    # One request, one span, a child of the caller's, named by the route, from this service.
    assert len(received) == 1, received
    span = received[0]
    assert span["parent_id"] == parent_id
    assert span["service"] == f"shop-{stack.backend}"
    assert span["attributes"]["http.route"] == "/api/whoami"  # type: ignore[index]
    # The exporter's protobuf is loaded in the server's master: what the off test looks for.
    assert PROTOBUF_EXTENSION in stack.exec("app", "cat", "/proc/1/maps")
    # The healthchecks, once a second since the stack started, made no span.
    assert spans(lambda span: span["attributes"].get("http.route") == "/healthz", 0) == []  # type: ignore[attr-defined]


def test_opentelemetry_spans_of_a_trace_nginx_started_carry_the_request_id(traced: tuple[Stack, Spans]) -> None:
    stack, spans = traced
    request_id = stack.get("/api/whoami").headers["X-Request-ID"]
    received = spans(lambda span: span["trace_id"] == request_id, 10)
    assert len(received) == 1, received


def test_opentelemetry_is_off_unless_asked_for(stack: Stack) -> None:
    # The default stack has no exporter: its master has not even loaded the exporter's protobuf.
    assert PROTOBUF_EXTENSION not in stack.exec("app", "cat", "/proc/1/maps")
