"""WebSockets (ws/compose.yaml) through nginx, on both backends, on the stack's tests' app's
echo route (tests/app/wsgi.py): messages of every kind come back whole, the socket carries the
request's identity as HTTP does, what is not a handshake is nginx's 400, and a socket is not cut by
the timeout that cuts a stuck HTTP request."""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

from tests.e2e.stack import BACKENDS, ROOT, Reply, Stack, eventually, running_stack, send
from tests.e2e.test_error_pages import assert_the_stacks_page
from tests.e2e.test_metrics import Samples, scrape
from tests.facts import compose_defaults

FILES = (ROOT / "ws" / "compose.yaml",)
ECHO = "/ws/echo"
# Short, so a test outlives it; the ws service has none (ws/compose.yaml).
APP_TIMEOUT = 3
MAX_MESSAGE = 1024 * 1024
# An origin besides the site's own whose pages may open a socket.
LISTED = "https://app.example.com"
# Room for few sockets, so a test fills it.
WORKERS, THREADS = 2, 3
SOCKETS = WORKERS * THREADS


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, images: None) -> Iterator[Stack]:
    with running_stack(
        request.param,
        FILES,
        APP_TIMEOUT=str(APP_TIMEOUT),
        WEBSOCKET_WORKERS=str(WORKERS),
        WEBSOCKET_THREADS=str(THREADS),
        WEBSOCKET_ORIGINS=LISTED,
    ) as stack:
        yield stack


def ws_url(stack: Stack, path: str = ECHO) -> str:
    return stack.url(path).replace("http://", "ws://", 1)


def opened(stack: Stack, compression: str | None = None) -> ClientConnection:
    """A socket to the echo route; `compression` offered or not (websockets offers it by default)."""
    return connect(ws_url(stack), compression=compression, open_timeout=10, close_timeout=5, max_size=2 * MAX_MESSAGE)


def response_headers(ws: ClientConnection) -> dict[str, str]:
    assert ws.response is not None
    return dict(ws.response.headers.raw_items())


def assert_nginxs_page(reply: Reply, status: int) -> None:
    """nginx's answer with the stack's page (the error pages' own check), never nginx's own."""
    assert_the_stacks_page(reply, status, as_json=False)
    assert "nginx" not in reply.body.lower()


def handshake(stack: Stack, path: str = ECHO, *, method: str = "GET", **headers: str) -> bytes:
    """A handshake's raw bytes (RFC 6455 4.1), with `headers` replacing or (empty) dropping its own."""
    fields = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    } | headers
    lines = [f"{method} {path} HTTP/1.1"] + [f"{name}: {value}" for name, value in fields.items() if value]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_text_binary_large_and_fragmented_messages_come_back_whole(stack: Stack) -> None:
    large = bytes(range(256)) * (MAX_MESSAGE // 256)
    with opened(stack) as ws:
        ws.send("hello, ünïcode ✓")
        assert ws.recv(timeout=10) == "hello, ünïcode ✓"
        ws.send(b"\x00\xff\x10")
        assert ws.recv(timeout=10) == b"\x00\xff\x10"
        ws.send(large)
        assert ws.recv(timeout=30) == large
        # One message in three frames, a ping between them (a control frame may come mid-message).
        ws.send(["frag", "ment", "ed"])
        assert ws.recv(timeout=10) == "fragmented"
        ws.ping(b"still there?").wait(10)


def test_a_message_over_the_limit_closes_the_socket_with_1009(stack: Stack) -> None:
    with opened(stack) as ws:
        ws.send(b"x" * (MAX_MESSAGE + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    # The socket's thread is free again: every one still takes a socket.
    with contextlib.ExitStack() as exits:
        echoing(stack, SOCKETS, exits)


def test_the_socket_gets_the_requests_identity_as_http_does(stack: Stack) -> None:
    http = stack.get("/api/whoami").json()
    with opened(stack) as ws:
        request_id = response_headers(ws)["X-Request-ID"]
        ws.send("whoami")
        seen = json.loads(ws.recv(timeout=10))
    assert seen["request_id"] == request_id
    # A trace of its own, as each HTTP request has.
    assert seen["traceparent"] != http["traceparent"]
    for same in ("remote_addr", "scheme", "host", "server"):
        assert seen[same] == http[same], same
    # No compression was offered to the app, whatever the client asked (BREACH).
    assert "Sec-Websocket-Extensions" not in seen["headers"]


def test_no_compression_is_negotiated(stack: Stack) -> None:
    with opened(stack, compression="deflate") as ws:
        assert "Sec-WebSocket-Extensions" not in response_headers(ws)


# What a handshake lacks or has wrong, and nginx refuses (RFC 6455 4.2.1).
NOT_HANDSHAKES = {
    "plain GET": {"Upgrade": "", "Connection": "", "Sec-WebSocket-Key": "", "Sec-WebSocket-Version": ""},
    "POST": {"method": "POST"},
    "no key": {"Sec-WebSocket-Key": ""},
    "bad key": {"Sec-WebSocket-Key": "not-a-key"},
    "version 8": {"Sec-WebSocket-Version": "8"},
    "no Connection: upgrade": {"Connection": "keep-alive"},
    "Upgrade: h2c": {"Upgrade": "h2c"},
}


@pytest.mark.parametrize("change", NOT_HANDSHAKES.values(), ids=NOT_HANDSHAKES.keys())
def test_anything_but_a_handshake_is_nginxs_400(stack: Stack, change: dict[str, str]) -> None:
    fields = dict(change)
    reply = send(stack, handshake(stack, method=fields.pop("method", "GET"), **fields))
    # The stack's page, with the request's ID: nginx's answer, the same on both backends.
    assert_nginxs_page(reply, 400)


# Origin headers, and whether a handshake with it is switched (101) or refused (403). The raw
# handshake asks for Host 127.0.0.1: the site's own origin is http://127.0.0.1.
ORIGINS = {
    "the site's own": ("http://127.0.0.1", 101),
    "listed": (LISTED, 101),
    "none (not a browser)": ("", 101),
    "another site": ("https://evil.example", 403),
    "the same host over another scheme": ("https://127.0.0.1", 403),
    "the same host on another port": ("http://127.0.0.1:8080", 403),
    "a sandboxed page": ("null", 403),
}


@pytest.mark.parametrize(("origin", "status"), ORIGINS.values(), ids=ORIGINS.keys())
def test_a_handshake_from_another_sites_page_is_nginxs_403(stack: Stack, origin: str, status: int) -> None:
    reply = send(stack, handshake(stack, Origin=origin))
    assert reply.status == status, reply
    if status == 403:
        assert_nginxs_page(reply, 403)


def test_a_good_raw_handshake_is_switched(stack: Stack) -> None:
    reply = send(stack, handshake(stack))
    assert reply.status == 101, reply
    # RFC 6455's own example: this key's accept value.
    assert reply.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request_seconds(stack: Stack, count: int = 20) -> float:
    """The lower quartile of the times of `count` plain HTTP requests to the app: what a request
    takes when nothing else on the machine is in its way. The suite's other tests load the
    machine in bursts, which move the median; a starved app (every worker taken) slows them all."""
    times = []
    for _ in range(count):
        started = time.monotonic()
        assert stack.get("/api/whoami").status_code == 200
        times.append(time.monotonic() - started)
    return statistics.quantiles(times, n=4)[0]


def test_with_every_socket_open_a_handshake_is_nginxs_503_and_http_is_served_as_before(stack: Stack) -> None:
    alone = request_seconds(stack)
    with contextlib.ExitStack() as exits:
        # Each worker holds as many as it has threads, every one answering.
        echoing(stack, SOCKETS, exits)
        full = request_seconds(stack)
        reply = send(stack, handshake(stack))
        assert_nginxs_page(reply, 503)
        assert reply.headers.get("Retry-After") == "5"
    # The sockets closed, there is room again.
    with contextlib.ExitStack() as again:
        echoing(stack, 1, again)
    # The app's workers never saw a socket (a floor for the timer's noise on sub-millisecond times).
    assert full <= 2 * alone + 0.01, (alone, full)


# The ws service's open sockets, as its metrics name them (runtime/stack_websocket.py).
OPEN = ("stack_websocket_open", frozenset[tuple[str, str]]())


def websocket_samples(stack: Stack) -> Samples:
    """The ws service's metrics once no socket is open (a closed one's handler may still be
    ending): the open gauge returns to zero."""
    samples = eventually(lambda: scrape(stack, "ws"), lambda found: found[OPEN] == 0, 15, 0.2)
    assert samples[OPEN] == 0
    return samples


def counted(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0) - before.get(key, 0)


def test_the_ws_services_metrics_count_open_sockets_closes_and_messages_across_workers(stack: Stack) -> None:
    before = websocket_samples(stack)
    with contextlib.ExitStack() as exits:
        # Every thread of both workers: the gauge is their sum.
        sockets = echoing(stack, SOCKETS, exits)
        sockets[0].send(b"binary")
        assert sockets[0].recv(timeout=10) == b"binary"
        during = scrape(stack, "ws")
        assert during[OPEN] == SOCKETS
        # A socket is not a request: the requests' slots stay free.
        assert during[("flask_http_requests_in_progress", frozenset())] == 0
        # An application's close code, in its thousand's series.
        sockets[1].close(4321)
    after = websocket_samples(stack)
    assert counted(before, after, "stack_websocket_messages_total", direction="received") == SOCKETS + 1
    assert counted(before, after, "stack_websocket_messages_total", direction="sent") == SOCKETS + 1
    assert counted(before, after, "stack_websocket_closed_total", code="4xxx") == 1
    assert counted(before, after, "stack_websocket_closed_total", code="1000") == SOCKETS - 1
    assert not any(
        name.startswith("flask_http_request_duration") and dict(labels).get("route", "").startswith("/ws/")
        for name, labels in after
    )


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "metrics").is_dir(), reason="the metrics feature is not there (metrics/ deleted)")
@pytest.mark.parametrize("backend", BACKENDS)
def test_prometheus_finds_the_ws_service_and_its_open_sockets(backend: str, images: None) -> None:
    # By name: the metrics feature may be deleted (the skip above), and with it this module.
    prometheus = importlib.import_module("metrics.tests.test_prometheus")
    settled, targets = prometheus.settled, prometheus.targets

    with running_stack(backend, FILES + prometheus.METRICS_FILES, PROMETHEUS_PORT="0") as stack:
        jobs = prometheus.eventually(lambda: targets(stack), lambda found: found.get("websocket") == "up")
        assert jobs.get("websocket") == "up", jobs
        with contextlib.ExitStack() as exits:
            echoing(stack, 2, exits)
            assert settled(stack, "sum(stack_websocket_open)", "", {"": 2}) == {"": 2}
        assert settled(stack, "sum(stack_websocket_open)", "", {"": 0}) == {"": 0}


@pytest.mark.slow
def test_an_idle_socket_outlives_app_timeout_while_a_stuck_request_is_cut_at_it(stack: Stack) -> None:
    with opened(stack) as ws:
        started = time.monotonic()
        stuck = stack.get(f"/api/slow?seconds={APP_TIMEOUT * 3}", timeout=30)
        assert stuck.status_code == 502, stuck.text
        assert time.monotonic() - started < APP_TIMEOUT * 2
        time.sleep(APP_TIMEOUT)
        ws.send("still open")
        assert ws.recv(timeout=10) == "still open"


@pytest.mark.slow
def test_after_an_nginx_reload_an_open_socket_lasts_until_the_old_workers_shutdown_timeout(stack: Stack) -> None:
    rendered = stack.exec("nginx", "cat", "/tmp/nginx/conf.d/main.conf")
    found = re.search(r"worker_shutdown_timeout (\d+)s;", rendered)
    assert found, rendered
    # The old worker's limit: no shorter than an app request may take.
    shutdown_timeout = int(found[1])
    assert shutdown_timeout > APP_TIMEOUT
    with opened(stack) as ws:
        started = time.monotonic()
        stack.exec("nginx", "nginx", "-s", "reload")
        ws.send("through the old worker")
        assert ws.recv(timeout=10) == "through the old worker"
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=shutdown_timeout * 3)
        # Cut by nginx, not closed by the app.
        assert closed.value.rcvd is None
        assert shutdown_timeout - 1 < time.monotonic() - started < shutdown_timeout * 2
    with contextlib.ExitStack() as again:
        echoing(stack, 1, again)


@pytest.mark.parametrize("backend", BACKENDS)
def test_under_app_prefix_the_routes_are_under_it_and_nowhere_else(backend: str, images: None) -> None:
    with running_stack(backend, FILES, APP_PREFIX="/myapp") as stack:
        with connect(ws_url(stack, f"/myapp{ECHO}"), open_timeout=10, close_timeout=5) as ws:
            ws.send("whoami")
            seen = json.loads(ws.recv(timeout=10))
            ws.send("under the prefix")
            assert ws.recv(timeout=10) == "under the prefix"
        assert seen["script_root"] == "/myapp"
        assert seen["url"].endswith("/myapp/api/whoami")
        # Outside the prefix nothing is the app's, a handshake included.
        assert send(stack, handshake(stack)).status == 404


def closed_codes(sockets: list[ClientConnection]) -> list[int | None]:
    """The close code each socket's server sent (None: none, the connection was cut)."""
    codes = []
    for ws in sockets:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        codes.append(closed.value.rcvd.code if closed.value.rcvd else None)
    return codes


def echoing(stack: Stack, count: int, exits: contextlib.ExitStack) -> list[ClientConnection]:
    """`count` open sockets, each proven by an echo, closed when `exits` ends if not before."""
    sockets = [exits.enter_context(opened(stack)) for _ in range(count)]
    for ws in sockets:
        ws.send("open")
        assert ws.recv(timeout=10) == "open"
    return sockets


def stopping_closes(sockets: list[ClientConnection], stop: Callable[[], object], grace: int) -> None:
    """`stop` sends 1001 to each of `sockets` and is over before the grace period is."""
    started = time.monotonic()
    stopping = threading.Thread(target=stop)
    stopping.start()
    assert closed_codes(sockets) == [1001] * len(sockets)
    stopping.join(2 * grace)
    # Ended by the sockets' close, not by the server killing its workers at the grace's end.
    assert time.monotonic() - started < grace


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_reload_stop_and_down_close_every_open_socket_with_1001_within_the_grace(backend: str, images: None) -> None:
    grace = int(compose_defaults()["APP_GRACEFUL_TIMEOUT"])
    with running_stack(backend, FILES) as stack, contextlib.ExitStack() as exits:
        # make reload replaces the ws container too: its sockets are told to go away, and a new
        # one reaches the new container.
        before, sockets = stack.container("ws"), echoing(stack, 3, exits)
        reload = stack.make("reload")
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert closed_codes(sockets) == [1001] * 3
        assert stack.container("ws") != before
        echoing(stack, 1, exits)

        stopping_closes(echoing(stack, 4, exits), lambda: stack.compose("stop", "ws"), grace)
        state = stack.state("ws")
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)

        # make down stops nginx too, which must not hold the tunnels open past the sockets' close.
        stack.compose("up", "--no-build", "--detach", "--wait", "ws")
        down: list[subprocess.CompletedProcess[str]] = []
        stopping_closes(echoing(stack, 4, exits), lambda: down.append(stack.make("down")), grace)
        assert down[0].returncode == 0, down[0].stdout + down[0].stderr
