"""The edge: every request nginx accepts reaches the app whole and gets the same answer on both backends.

nginx is the one gate for the request line, the header sizes and count, and the body size; each
limit is tried just under (the app answers, on both backends) and just over (nginx's own page).
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from .stack import MAX_BODY_BYTES, Reply, Stack, chunked, send

# The shortest request line and head around the parts a case makes large.
LINE = "GET /api/whoami?pad={pad} HTTP/1.1"
HEADERS = "Host: t\r\nConnection: close\r\n"


def nginx_setting(stack: Stack, name: str) -> int:
    """A limit as the running nginx has it: the tests derive their edges from the stack itself."""
    return int(stack.setting("nginx", name))


def line_of(length: int) -> str:
    """A request line of exactly `length` bytes (without its CRLF)."""
    return LINE.format(pad="a" * (length - len(LINE.format(pad=""))))


def header_of(name: str, length: int) -> str:
    """A header line of exactly `length` bytes with its CRLF."""
    return f"{name}: " + "v" * (length - len(name) - 4) + "\r\n"


def answered_by_the_app(stack: Stack, reply: Reply) -> None:
    assert reply.status == 200, reply
    assert json.loads(reply.body)["server"] == stack.backend


def answered_by_nginx(reply: Reply, status: int, *, as_json: bool = True) -> None:
    """nginx's own page: JSON with the request ID under /api/, HTML when it never read the path."""
    assert reply.status == status, reply
    if as_json:
        page = json.loads(reply.body)
        assert (page["status"], page["request_id"]) == (status, reply.headers["X-Request-ID"])
    else:
        assert f"<h1>{status} " in reply.body
        assert reply.headers["X-Request-ID"] in reply.body


# --- chunked request bodies ---------------------------------------------------------------


CHUNKED_ECHO = b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("length", [1, 2, 65_537, MAX_BODY_BYTES])
def test_a_chunked_upload_reaches_the_app_whole(stack: Stack, length: int) -> None:
    """uWSGI used to get the client's Transfer-Encoding with nginx's de-chunked body: 0 bytes read."""
    body = random.Random(length).randbytes(length)
    reply = send(stack, CHUNKED_ECHO + chunked(body, 8192 if length > 8192 else 1))
    assert reply.status == 200, reply
    assert json.loads(reply.body) == {"bytes": length, "sha256": hashlib.sha256(body).hexdigest()}


def test_a_chunked_upload_one_byte_over_the_limit_is_nginxs_413(stack: Stack) -> None:
    answered_by_nginx(send(stack, CHUNKED_ECHO + chunked(b"x" * (MAX_BODY_BYTES + 1), 65536)), 413)


# --- the request head, at each of nginx's limits ----------------------------------------------


def test_the_longest_request_line_nginx_takes_reaches_the_app(stack: Stack) -> None:
    longest = nginx_setting(stack, "REQUEST_HEAD_BUFFER") - 2  # the buffer holds the CRLF too
    answered_by_the_app(stack, send(stack, f"{line_of(longest)}\r\n{HEADERS}\r\n".encode()))
    # nginx never read the path of a line it could not hold: its page is HTML.
    answered_by_nginx(send(stack, f"{line_of(longest + 1)}\r\n{HEADERS}\r\n".encode()), 414, as_json=False)


def test_the_longest_header_nginx_takes_reaches_the_app(stack: Stack) -> None:
    longest = nginx_setting(stack, "REQUEST_HEAD_BUFFER")  # with its CRLF
    for name in ("X-Big", "Cookie"):
        answered_by_the_app(stack, send(stack, f"{line_of(40)}\r\n{HEADERS}{header_of(name, longest)}\r\n".encode()))
        answered_by_nginx(send(stack, f"{line_of(40)}\r\n{HEADERS}{header_of(name, longest + 1)}\r\n".encode()), 400)


def test_as_many_headers_as_nginx_takes_reach_the_app(stack: Stack) -> None:
    """A few hundred small headers used to be a 502 on uWSGI (its default: 64 variables)."""
    most = nginx_setting(stack, "REQUEST_HEADERS_MAX") - 2  # Host and Connection count too
    for line in ("a:\r\n", "a:\n", "X-Header: value\r\n"):
        answered_by_the_app(stack, send(stack, f"{line_of(40)}\r\n{HEADERS}{line * most}\r\n".encode()))
        answered_by_nginx(send(stack, f"{line_of(40)}\r\n{HEADERS}{line * (most + 1)}\r\n".encode()), 400)


def test_the_largest_head_nginx_takes_reaches_the_app(stack: Stack) -> None:
    """A head that fills every buffer nginx has: 32 KiB used to be a 502 on uWSGI (a 32 KiB packet).

    The request line and the first headers fit the first, small buffer; each large buffer then
    holds whole lines, and the last must keep room for the head's final CRLF.
    """
    buffer, buffers = nginx_setting(stack, "REQUEST_HEAD_BUFFER"), nginx_setting(stack, "REQUEST_HEAD_BUFFERS")
    full = "".join(header_of(f"X-Fill-{i}", buffer) for i in range(buffers - 1))

    def head(last: int) -> bytes:
        return f"{line_of(40)}\r\n{HEADERS}{full}{header_of('Cookie', last)}\r\n".encode()

    answered_by_the_app(stack, send(stack, head(buffer - 2)))
    answered_by_nginx(send(stack, head(buffer - 1)), 400)


def test_every_limit_at_once_still_reaches_the_app(stack: Stack) -> None:
    """The uwsgi packet near its largest: nginx sends the URL and the content type twice."""
    buffer, most = nginx_setting(stack, "REQUEST_HEAD_BUFFER"), nginx_setting(stack, "REQUEST_HEADERS_MAX")
    big = header_of("Content-Type", buffer) + header_of("Cookie", buffer)
    small = "a:\n" * (most - 4)
    answered_by_the_app(stack, send(stack, f"{line_of(buffer - 2)}\r\n{big}{HEADERS}{small}\r\n".encode()))


# --- answers before the body is read ------------------------------------------------------

EARLY = [("/healthz", 405), ("/api/nope", 404), ("/", 405)]
SIZES = [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]


def test_an_upload_refused_before_it_is_read_gets_its_real_status(stack: Stack) -> None:
    """The app answers without reading the body; nginx used to get EPIPE sending it and answer 502.

    300 tries per backend, so a 1 % rate would show: it was 3-30 % before the fix.
    """
    body = random.Random(0).randbytes(max(SIZES))
    seen: dict[int, int] = {}
    for attempt in range(300):
        path, status = EARLY[attempt % len(EARLY)]
        response = stack.post(path, data=body[: SIZES[attempt % len(SIZES)]])
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code == status, f"try {attempt}: {path} got {response.status_code}, seen {seen}"


# --- headers that only nginx may set --------------------------------------------------------


STEERING = {
    "X-Forwarded-Ssl": "on",
    "X-Forwarded-Protocol": "https",
    "X-Forwarded-Scheme": "https",
    "X-Url-Scheme": "https",
    "Front-End-Https": "on",
    "Forwarded": "for=203.0.113.9;proto=https;host=evil.example",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/evil",
    "X-Real-IP": "203.0.113.9",
}


def test_other_scheme_and_client_headers_never_reach_the_app(stack: Stack) -> None:
    """X-Forwarded-Ssl: on got Gunicorn's own 400 page ("Contradictory scheme headers")."""
    for name, value in STEERING.items():
        response = stack.get("/api/whoami", headers={name: value})
        assert response.status_code == 200, (name, response.text)
        seen = response.json()
        assert seen["server"] == stack.backend
        assert seen["scheme"] == "http"
        assert seen["url"].startswith("http://")
        assert seen["remote_addr"] != "203.0.113.9"
        assert seen["script_root"] == ""
        # Front-End-Https is passed (nothing in the stack reads it); the others are nginx's to decide.
        assert name not in seen["headers"] or name == "Front-End-Https"


def test_repeated_content_type_gets_the_same_answer_on_both_backends(stack: Stack) -> None:
    """Gunicorn answered a second Content-Type with its own 400 page; nginx passes one."""
    request = b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 3\r\n"
    reply = send(stack, request + b"Connection: close\r\n\r\nabc")
    assert reply.status == 200, reply
    assert json.loads(reply.body)["bytes"] == 3
