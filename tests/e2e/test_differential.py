"""Differential test: the same generated request, sent to both backends, gets the same answer.

uWSGI and Gunicorn are meant to be interchangeable behind nginx, so any request (methods, paths
with encodings and dot segments, header sets, bodies chunked or not, URLs at nginx's limit) must
get the same status, the same main headers and the same body from either, but for what names
the server, its worker or the request. Hypothesis generates the requests, derandomized (the same
examples every run) and bounded in count; a difference fails with the raw request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .stack import Reply, Stack, chunked, running_stack, send

PREFIX = "/myapp"
EXAMPLES = 250
# Path segments that mean something to nginx or the app, and spellings of them.
SEGMENTS = [
    "", ".", "..", "%2e", "%2e%2e", ".%2e", "%2F", "%2f..", "api", "%61pi", "echo", "whoami", "healthz",
    "bytes", "home", "static", "css", "app.css", "js", "app.js", "nope", "myapp", "%6Dyapp", "_stack",
    "error.json", "index.html", "%ff%fe", "%00", "a%20b", "~user", "%25", "%", ";x=1", "a+b", "%C3%A9",
]  # fmt: skip
# Headers that steer nginx, a server or the app, plus ordinary ones. Host and Connection are the
# sender's own; Content-Length and Transfer-Encoding come from the body.
HEADER_NAMES = [
    "Accept", "Accept-Encoding", "Cookie", "Content-Type", "Expect", "Range", "If-None-Match",
    "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Ssl", "Forwarded",
    "X-Real-IP", "X-Request-ID", "Proxy", "TE", "Upgrade", "Keep-Alive", "Trailer", "Via", "X-A",
    "traceparent", "tracestate",
]  # fmt: skip
# What names the server, its process, the request (its ID, the trace nginx starts for it) or the
# network the stack runs on.
VARYING_KEYS = {"server", "pid", "request_id", "traceparent", "remote_addr"}
COMPARED_HEADERS = ("Content-Type", "Location", "Allow", "Cache-Control", "Content-Encoding", "Retry-After")


@dataclass(frozen=True)
class Pair:
    uwsgi: Stack
    gunicorn: Stack
    prefix: str
    buffer: int  # nginx's REQUEST_HEAD_BUFFER: the longest request line or header line, CRLF included
    headers_max: int  # nginx's REQUEST_HEADERS_MAX


@pytest.fixture(scope="module", params=["", PREFIX], ids=["uwsgi-gunicorn-at-root", "uwsgi-gunicorn-under-prefix"])
def pair(request: pytest.FixtureRequest, images: None) -> Iterator[Pair]:
    with (
        running_stack("uwsgi", APP_PREFIX=request.param) as uwsgi,
        running_stack("gunicorn", APP_PREFIX=request.param) as gunicorn,
    ):
        limits = (int(uwsgi.setting("nginx", name)) for name in ("REQUEST_HEAD_BUFFER", "REQUEST_HEADERS_MAX"))
        yield Pair(uwsgi, gunicorn, request.param, *limits)


# The sample app's routes, and what its pages load.
ROUTES = ["/", "/home", "/healthz", "/api/whoami", "/api/echo", "/api/bytes", "/api/nope", "/static/css/app.css"]
# Values that mean something to one of the three, and arbitrary text (obs-text included).
values = st.one_of(
    st.sampled_from(["on", "1", "https", "http", "chunked", "100-continue", "gzip", "bytes=0-9", "close", "a/b"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=24),
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    """A route of the app spelled another way (dot segments, doubled slashes, %-escapes), or a random one."""
    if draw(st.booleans()):
        return "/" + "/".join(draw(st.lists(st.sampled_from(SEGMENTS), max_size=5)))
    segments = draw(st.sampled_from(ROUTES)).split("/")[1:]
    spelled = []
    for segment in segments:
        spelled += draw(st.sampled_from([[], [], [], ["."], ["x", ".."], [""]]))
        if segment and draw(st.integers(0, 3)) == 0:
            at = draw(st.integers(0, len(segment) - 1))
            segment = segment[:at] + f"%{ord(segment[at]):02X}" + segment[at + 1 :]
        spelled.append(segment)
    return "/" + "/".join(spelled)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, object]:
    return {
        "method": draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])),
        "under_prefix": draw(st.booleans()),
        "path": draw(paths()),
        "query": draw(st.one_of(st.just(""), st.text("abcxyz019=&%+-._~/?", max_size=16))),
        # None, or how far from nginx's longest request line to pad it: -1 and 0 fit, +1 is a 414.
        "line_delta": draw(st.sampled_from([None, None, None, -1, 0, 1])),
        "headers": draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), values), max_size=4)),
        # None, or headers at nginx's limits: one as long as it takes (+1: a 400), as many as it takes.
        "filler": draw(st.sampled_from([None, None, None, "long", "long+1", "many", "many+1"])),
        # Bodies of a few bytes, or large enough that nginx is still sending when the app answers.
        "body": draw(st.one_of(st.none(), st.binary(max_size=3000), st.sampled_from([70_000, 1_100_000]))),
        "chunk": draw(st.integers(1, 1024)),
        "chunked": draw(st.booleans()),
    }


def build(generated: dict[str, object], pair: Pair) -> bytes:
    """The raw request: request line, headers, body framed by Content-Length or chunked."""
    method, path, query = generated["method"], str(generated["path"]), str(generated["query"])
    prefix, longest_line = pair.prefix, pair.buffer - 2
    if generated["under_prefix"]:
        path = prefix + path
    target = path + (f"?{query}" if query else "")
    if generated["line_delta"] is not None:
        room = longest_line + int(generated["line_delta"]) - len(f"{method} {target}?pad= HTTP/1.1")  # type: ignore[call-overload]
        target += ("&" if "?" in target else "?") + "pad=" + "p" * max(room, 0)
    lines = [f"{method} {target} HTTP/1.1", "Host: t", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in generated["headers"]]  # type: ignore[attr-defined]
    body = generated["body"]
    if isinstance(body, int):
        body = bytes(range(256)) * (body // 256)
    payload = b""
    if isinstance(body, bytes):
        if generated["chunked"]:
            payload = chunked(body, int(generated["chunk"]))  # type: ignore[call-overload]
            lines.append("Transfer-Encoding: chunked")
        else:
            payload = body
            lines.append(f"Content-Length: {len(body)}")
    filler = str(generated["filler"])
    if filler.startswith("long"):
        lines.append("Cookie: " + "c" * (pair.buffer - len("Cookie: \r\n") + filler.count("+1")))
    elif filler.startswith("many"):
        lines += ["a:"] * (pair.headers_max - (len(lines) - 1) + filler.count("+1"))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def shown(raw: bytes) -> str:
    """The raw request for a failure message, long runs of one byte shortened."""
    return re.sub(r"(.)\1{39,}", lambda run: f"{run.group(1)}<x{len(run.group(0))}>", repr(raw))


def comparable(reply: Reply) -> tuple[int, dict[str, str], object]:
    """What must be equal: status, the main headers, the body without what names the server or request."""
    headers = {name: reply.headers.get(name, "") for name in COMPARED_HEADERS}
    # Werkzeug lists allowed methods from a set: their order varies between processes.
    headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
    try:
        body: object = json.loads(reply.body)
    except ValueError:
        body = re.sub(r"\b[0-9a-f]{32}\b", "<request-id>", reply.body)
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in VARYING_KEYS}
    return reply.status, headers, body


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(generated=requests())
def test_both_backends_give_the_same_answer(pair: Pair, generated: dict[str, object]) -> None:
    raw = build(generated, pair)
    uwsgi, gunicorn = send(pair.uwsgi, raw), send(pair.gunicorn, raw)
    assert comparable(uwsgi) == comparable(gunicorn), f"the backends disagree on this request:\n{shown(raw)}"
    # Never a server error for what a client sent, never a server's own page.
    assert 0 < uwsgi.status < 500, f"{uwsgi.status} for:\n{shown(raw)}\n{uwsgi.body[:500]}"
    assert "Traceback" not in uwsgi.body
    assert "<center>nginx</center>" not in uwsgi.body
