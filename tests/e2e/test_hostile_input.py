"""Hostile and malformed requests, sent byte for byte: each gets a clear 4xx from the right layer.

docs/hostile-input.md, "Hostile input", is this table. "nginx" cases must never reach the app: the stack here
runs with the servers' own access logs on, so the app would log the case's marker if it saw it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest

from .stack import Stack, send, stack_fixture

BIG = "a" * 9000  # over nginx's large_client_header_buffers (8 KiB per line)


@dataclass(frozen=True)
class Case:
    name: str
    request: str  # {m} becomes a unique marker in the URL
    status: int
    layer: str  # "nginx": answered without the app; "app": the app's own JSON or HTML error
    # Whether nginx got as far as the path: its error page is JSON under /api/ only if it did.
    path_read: bool = True


CASES = [
    # Sizes
    Case(
        "body over MAX_BODY_SIZE",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nContent-Length: 11534336\r\n\r\n",
        413,
        "nginx",
    ),
    Case(
        "body over it, announced with Expect",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nContent-Length: 11534336\r\nExpect: 100-continue\r\n\r\n",
        413,
        "nginx",
    ),
    Case(
        "chunked body over it",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nb00001\r\nabc",
        413,
        "nginx",
    ),
    Case("header over 8 KiB", f"GET /api/whoami?{{m}} HTTP/1.1\r\nHost: t\r\nX-Big: {BIG}\r\n\r\n", 400, "nginx"),
    Case("cookie over 8 KiB", f"GET /api/whoami?{{m}} HTTP/1.1\r\nHost: t\r\nCookie: a={BIG}\r\n\r\n", 400, "nginx"),
    Case(
        "headers over 32 KiB in all",
        "GET /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n" + "".join(f"X-H{i}: {'a' * 7000}\r\n" for i in range(5)) + "\r\n",
        400,
        "nginx",
    ),
    Case(
        "URL over 8 KiB", f"GET /api/whoami?{{m}}&pad={BIG} HTTP/1.1\r\nHost: t\r\n\r\n", 414, "nginx", path_read=False
    ),
    # Request line and headers
    Case(
        "request line with extra words",
        "GET /api/whoami?{m} HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        400,
        "nginx",
        path_read=False,
    ),
    Case("TLS handshake on the HTTP port", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03{m}\r\n\r\n", 400, "nginx"),
    Case("lower-case method", "get /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx", path_read=False),
    Case("unknown HTTP version", "GET /api/whoami?{m} HTTP/9.9\r\nHost: t\r\n\r\n", 400, "nginx", path_read=False),
    Case("HTTP/1.1 without Host", "GET /api/whoami?{m} HTTP/1.1\r\n\r\n", 400, "nginx"),
    Case("two Host headers", "GET /api/whoami?{m} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "nginx"),
    Case("Host with a path in it", "GET /api/whoami?{m} HTTP/1.1\r\nHost: a/../b\r\n\r\n", 400, "nginx"),
    Case("obsolete line folding", "GET /api/whoami?{m} HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400, "nginx"),
    Case("NUL in a header value", "GET /api/whoami?{m} HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400, "nginx"),
    Case("header with no name", "GET /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n: value\r\n\r\n", 400, "nginx"),
    # Bodies framed two ways (request smuggling)
    Case(
        "Content-Length and Transfer-Encoding",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "nginx",
    ),
    Case(
        "two different Content-Lengths",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
        "nginx",
    ),
    Case(
        "unknown Transfer-Encoding",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        400,
        "nginx",
    ),
    Case(
        "chunked, not last",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        400,
        "nginx",
    ),
    Case(
        "bad chunk size",
        "POST /api/echo?{m} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        400,
        "nginx",
    ),
    # Paths
    Case("../ out of /static/", "GET /static/../../etc/passwd?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx"),
    Case(
        "%2e%2e out of /static/", "GET /static/%2e%2e/%2e%2e/etc/passwd?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx"
    ),
    Case("..%2f out of /static/", "GET /static/..%2f..%2fetc%2fpasswd?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx"),
    Case("../ into the app's source", "GET /static/css/../../../wsgi.py?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx"),
    Case("/static/ itself", "GET /static/?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 404, "nginx"),
    Case("missing static file", "GET /static/nope.js?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 404, "nginx"),
    Case("NUL in the path", "GET /static/app.css%00.js?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx"),
    Case("internal error-page path", "GET /_stack/error.json?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 404, "nginx"),
    Case("alias off-by-slash /static../", "GET /static../wsgi.py?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 404, "app"),
    Case("invalid UTF-8 in the path", "GET /api/%ff%fe?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 404, "app"),
    # Methods
    Case("TRACE", "TRACE /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 405, "nginx"),
    Case("WebDAV PROPFIND", "PROPFIND /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 405, "nginx"),
    Case("made-up method", "FOO /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 405, "nginx"),
    Case("CONNECT", "CONNECT t:443 HTTP/1.1\r\nHost: t\r\n\r\n", 400, "nginx"),
    Case("DELETE on a GET route", "DELETE /api/whoami?{m} HTTP/1.1\r\nHost: t\r\n\r\n", 405, "app"),
]


# The stack with the servers' access logs on: the app's log shows every request it saw.
logged_stack = stack_fixture(APP_ACCESS_LOG="on")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_gets_a_clear_4xx_from_the_right_layer(logged_stack: Stack, case: Case) -> None:
    stack = logged_stack
    marker = f"probe-{uuid.uuid4().hex}"
    reply = send(stack, case.request.replace("{m}", marker).encode("latin-1"))

    assert reply.status == case.status, reply
    assert "Traceback" not in reply.body
    assert "<center>nginx</center>" not in reply.body
    assert reply.headers["X-Request-ID"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    # The app's log line may come later than its answer: waited for where it must come.
    app_saw_it = any(marker in line for line in stack.messages("app")) or (
        case.layer == "app" and bool(stack.logged("app", lambda line: marker in line))
    )
    if case.layer == "nginx":
        assert not app_saw_it, f"the app saw {case.name}"
        if case.path_read and "/api/" in case.request.split("\r\n")[0]:
            assert json.loads(reply.body)["status"] == case.status
        else:
            assert f"<h1>{case.status} " in reply.body
    else:
        assert app_saw_it
        if "/api/" in case.request:
            assert json.loads(reply.body)["status"] == case.status


def test_headers_that_try_to_steer_the_app_are_dropped_or_overwritten(logged_stack: Stack) -> None:
    stack = logged_stack
    reply = send(
        stack,
        (
            b"GET /api/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            # Spoofed proxy headers, and the same names with underscores (one environ key each)
            b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n"
            b"X_Forwarded_For: 203.0.113.10\r\nX-Forwarded_Proto: https\r\nX_FORWARDED_HOST: evil.example\r\n"
            # Gunicorn takes these from a trusted proxy's headers; uWSGI reads UWSGI_* variables
            b"SCRIPT_NAME: /evil\r\nScript-Name: /evil\r\nPATH_INFO: /evil\r\n"
            b"UWSGI_SCRIPT: evil:app\r\nUWSGI_CHDIR: /tmp\r\nUWSGI_APPID: evil\r\n"
            # httpoxy: HTTP_PROXY is read as an outgoing proxy by HTTP libraries
            b"Proxy: http://evil.example:3128\r\n"
            # Other ways of naming the scheme or the client (Gunicorn answered the first with its own 400)
            b"X-Forwarded-Ssl: on\r\nX-Forwarded-Protocol: https\r\nX-Url-Scheme: https\r\n"
            b"Forwarded: for=203.0.113.9;proto=https\r\nX-Real-IP: 203.0.113.9\r\n"
            # Hop-by-hop headers: they describe the client's connection to nginx, not nginx's to the app
            b"TE: trailers\r\nUpgrade: websocket\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\n"
            # invalid header name
            b"X-Bad[Name]: 1\r\n\r\n"
        ),
    )
    assert reply.status == 200, reply
    seen = json.loads(reply.body)
    assert seen["server"] == stack.backend
    assert seen["remote_addr"] != "203.0.113.9"
    assert seen["remote_addr"] != "203.0.113.10"
    assert (seen["scheme"], seen["host"], seen["script_root"]) == ("http", "t", "")
    # nginx dropped every name with an underscore or invalid characters, and Proxy.
    assert "Proxy" not in seen["headers"]
    assert not [name for name in seen["headers"] if "_" in name or "[" in name]
    # What got through is nginx's own value or a plain header nothing acts on.
    assert set(seen["headers"]) <= {
        "Host",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Request-Id",
        "Traceparent",
        "Script-Name",
    }, seen["headers"]
