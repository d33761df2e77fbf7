"""nginx's own answers get the stack's page whatever the status, on both backends.

Which statuses nginx has a page of its own for is read from the nginx binary the stack runs (each
page's <title>), not from a list kept here: a status nginx can send is one nginx.conf and
error-pages.conf must cover. A test-only snippet (server.d, as the features add theirs) answers each with
`return`, and the real triggers that reach nginx's error path from a static file are sent too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator

import pytest

from .stack import BACKENDS, Reply, Stack, running_stack, send

# nginx's codes that it sends as 400, each with a page of its own titled "400 ..."
# (ngx_http_special_response.c): a header too large, a bad or a missing client certificate,
# plain HTTP on the HTTPS port.
SENT_AS_400 = (494, 495, 496, 497)
# What the stack sends for them: 400 too for an unknown transfer coding (501) or HTTP version
# (505), the client's doing, never counted as a server error (error-pages.conf); nothing for 408, where
# nginx drops the client (ngx_http_finalize_request closes a timed-out request unanswered).
SENT = {**dict.fromkeys((*SENT_AS_400, 501, 505), 400), 408: 0}
# Headers every answer carries once (nginx/headers.conf): the ones a second pass adds again.
ONCE = ("X-Request-ID", "X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Cache-Control", "ETag")
OVERLAY = """
services:
  nginx:
    volumes:
      - {template}:/etc/nginx/templates/server.d/status-probe.conf.template:ro
"""


def nginx_statuses(stack: Stack) -> list[int]:
    """Every status nginx's binary has a page for: its 3-digit titles, and the codes it sends as 400."""
    titles = stack.compose(
        "run", "--rm", "--no-deps", "--entrypoint", "sh", "nginx", "-c",
        'grep -ao "<title>[0-9][0-9][0-9] [^<]*</title>" "$(command -v nginx)"',
    ).stdout  # fmt: skip
    found = sorted(set(re.findall(r"<title>(\d{3}) ([^<]*)</title>", titles)))
    assert found, titles
    # nginx's special pages sent as 400: one "400 ..." title each, beside plain 400's.
    assert len([title for code, title in found if code == "400"]) == 1 + len(SENT_AS_400), found
    return sorted({int(code) for code, _ in found} | set(SENT_AS_400))


def probe_template(statuses: list[int]) -> str:
    """A location per status and page format that answers with it (redirects to a path)."""
    lines = []
    for status in statuses:
        answer = f"{status} /elsewhere" if 300 <= status < 400 else str(status)
        for prefix in ("", "/api"):
            lines.append(f"location = {prefix}/_probe/status/{status} {{ return {answer}; }}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=BACKENDS)
def probed(
    request: pytest.FixtureRequest, images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, list[int]]]:
    directory = tmp_path_factory.mktemp("status-probe")
    overlay, template = directory / "status-probe.yaml", directory / "status-probe.conf.template"
    overlay.write_text(OVERLAY.format(template=template))
    # There before anything mounts it: Docker would make a missing source a directory.
    template.touch(mode=0o644)
    with running_stack(request.param, (overlay,), start=False) as stack:
        statuses = nginx_statuses(stack)
        template.write_text(probe_template(statuses))
        stack.up()
        yield stack, statuses


def header_counts(reply: Reply) -> Counter[str]:
    return Counter(name.lower() for name, _ in reply.header_list)


def assert_the_stacks_page(reply: Reply, sent: int, *, as_json: bool) -> None:
    """The stack's page, rendered, complete for this status, each header once."""
    assert reply.status == sent, reply
    counts = header_counts(reply)
    assert [name for name in ONCE if counts[name.lower()] > 1] == [], reply.header_list
    assert counts["x-request-id"] == counts["x-content-type-options"] == 1, reply.header_list
    assert "<!--#" not in reply.body, reply.body
    assert "<center>nginx</center>" not in reply.body, reply.body
    if as_json:
        page = json.loads(reply.body)
        assert (page["status"], page["request_id"]) == (sent, reply.headers["X-Request-ID"])
        # The maps' fallbacks (nginx.conf) mean the status is missing from them.
        assert page["error"] != "Error", page
        assert page["detail"] != "The request failed.", page
    else:
        assert f"<h1>{sent} " in reply.body, reply.body
        assert f"<h1>{sent} Error</h1>" not in reply.body, reply.body
        assert "The request failed." not in reply.body, reply.body
        assert reply.headers["X-Request-ID"] in reply.body


@pytest.mark.parametrize("as_json", [False, True], ids=["html", "json"])
def test_every_status_nginx_has_a_page_for_gets_the_stacks_page(probed: tuple[Stack, list[int]], as_json: bool) -> None:
    stack, statuses = probed
    wrong = {}
    for status in statuses:
        path = f"{'/api' if as_json else ''}/_probe/status/{status}"
        reply = send(stack, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        sent = SENT.get(status, status)
        try:
            if not sent:
                assert reply.status == 0, reply
                continue
            assert_the_stacks_page(reply, sent, as_json=as_json)
            if 300 <= status < 400:
                assert reply.headers["Location"] == "/elsewhere", reply
        except AssertionError as failure:
            wrong[status] = str(failure).splitlines()[0]
    assert wrong == {}, f"of {len(statuses)} statuses nginx has pages for ({statuses}), these are wrong"


def test_a_failed_precondition_on_a_static_file_gets_the_stacks_page(probed: tuple[Stack, list[int]]) -> None:
    stack, _ = probed
    reply = send(stack, b'GET /static/css/app.css HTTP/1.1\r\nHost: t\r\nIf-Match: "nope"\r\nConnection: close\r\n\r\n')
    assert_the_stacks_page(reply, 412, as_json=False)


@pytest.mark.parametrize("first", [0, 10**9], ids=["in-range", "past-the-end"])
def test_a_range_of_a_static_file_gets_the_whole_file_with_each_header_once(
    probed: tuple[Stack, list[int]], first: int
) -> None:
    """nginx's range filter fails after the headers are added, so its 416 would carry them twice
    and the page unrendered: static files ignore Range (app.conf, max_ranges 0)."""
    stack, _ = probed
    whole = (stack.static_dir / "css" / "app.css").read_text()
    reply = send(stack, f"GET /static/css/app.css HTTP/1.1\r\nHost: t\r\nRange: bytes={first}-\r\n\r\n".encode())
    assert (reply.status, reply.body) == (200, whole), reply
    counts = header_counts(reply)
    assert [name for name in ONCE if counts[name.lower()] != 1] == [], reply.header_list
    assert not {"Content-Range", "Accept-Ranges"} & set(reply.headers), reply.headers
