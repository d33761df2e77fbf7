"""SERVER_NAMES: nginx serves the names it lists and refuses any other Host with 421, the stack's
page, before the app or a redirect could use the name. Its own healthcheck still passes, and a
client cannot claim the healthcheck's exemption."""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from pathlib import Path

import pytest

from .stack import TLS_FILES, Reply, Stack, StackFactory, free_port, send, stack_fixture

NAMES = "stack.test,*.example.org"
# The servers' access logs on: the app's log shows every request it saw.
named = stack_fixture(SERVER_NAMES=NAMES, APP_ACCESS_LOG="on")


def ask(stack: Stack, host: str, path: str = "/api/whoami", *extra: str, port: int | None = None) -> Reply:
    head = "".join(f"{line}\r\n" for line in (f"Host: {host}", *extra))
    return send(stack, f"GET {path} HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode(), port=port)


@pytest.mark.parametrize("host", ["stack.test", "STACK.test:8080", "www.example.org", "a.b.example.org"])
def test_a_name_served_reaches_the_app_which_builds_its_links_from_it(named: Stack, host: str) -> None:
    reply = ask(named, host)
    assert reply.status == 200, reply
    assert json.loads(reply.body)["url"] == f"http://{host.lower()}/api/whoami"


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("evil.example", "/api/whoami"),
        ("example.org", "/api/whoami"),
        ("127.0.0.1", "/"),
        ("stack.test.evil.example", "/static/css/app.css"),
    ],
)
def test_any_other_name_gets_421_from_nginx_and_never_reaches_the_app(named: Stack, host: str, path: str) -> None:
    marker = f"names-{uuid.uuid4().hex}"
    reply = ask(named, host, f"{path}?{marker}")
    assert reply.status == 421, reply
    assert "<center>nginx</center>" not in reply.body
    if path.startswith("/api/"):
        page = json.loads(reply.body)
        assert (page["status"], page["error"], page["request_id"]) == (
            421,
            "Misdirected Request",
            reply.headers["X-Request-ID"],
        )
    else:
        assert "<h1>421 Misdirected Request</h1>" in reply.body
    assert not [line for line in named.messages("app") if marker in line]


def test_a_client_cannot_claim_the_healthchecks_exemption(named: Stack) -> None:
    """The healthcheck is known by its connection's address inside the container, not by what it
    sends: the same request from a client, with a forwarded 127.0.0.1, is refused."""
    reply = ask(named, "127.0.0.1", "/healthz", "User-Agent: stack-healthcheck", "X-Forwarded-For: 127.0.0.1")
    assert reply.status == 421, reply
    # While nginx's own check (127.0.0.1, from inside) keeps the container healthy.
    assert named.inspect("nginx", "{{.State.Health.Status}}") == "healthy"


def test_with_https_another_name_is_refused_on_both_ports_not_redirected(new_stack: StackFactory, certs: Path) -> None:
    """A plain HTTP request is refused before the redirect to HTTPS could name its host."""
    port = free_port()
    stack = new_stack(
        *TLS_FILES,
        SERVER_NAMES=NAMES,
        TLS_CERT=str(certs / "tls.crt"),
        TLS_KEY=str(certs / "tls.key"),
        HTTPS_PORT=str(port),
    )
    refused = ask(stack, "evil.example")
    assert (refused.status, refused.headers.get("Location")) == (421, None), refused
    served = ask(stack, "stack.test")
    assert (served.status, served.headers["Location"]) == (301, f"https://stack.test:{port}/api/whoami"), served
    context = ssl.create_default_context(cafile=str(certs / "tls.crt"))
    context.check_hostname = False
    for host, status in (("evil.example", 421), ("stack.test", 200)):
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        try:
            connection.request("GET", "/api/whoami", headers={"Host": host})
            assert connection.getresponse().status == status, host
        finally:
            connection.close()
