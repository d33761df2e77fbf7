"""TLS mode (compose.tls.yaml, make certs): HTTPS with HTTP/2, redirects, HSTS over TLS only."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .stack import BACKENDS, TLS_FILES, Stack, StackFactory, free_port, running_stack, send


@pytest.fixture(scope="module", params=BACKENDS)
def tls_stack(request: pytest.FixtureRequest, images: None, certs: Path) -> Iterator[tuple[Stack, str]]:
    # A fixed free port, not 0: nginx's redirect names the port clients use, so it must know it.
    port = str(free_port())
    settings = {"TLS_CERT": str(certs / "tls.crt"), "TLS_KEY": str(certs / "tls.key"), "HTTPS_PORT": port}
    with running_stack(request.param, TLS_FILES, start=True, **settings) as stack:
        yield stack, f"https://127.0.0.1:{port}"


def test_plain_http_redirects_to_https_without_hsts(tls_stack: tuple[Stack, str]) -> None:
    stack, https = tls_stack
    response = stack.get("/api/whoami?x=1", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{https}/api/whoami?x=1"
    assert "Strict-Transport-Security" not in response.headers
    # The stack's page (JSON under /api/), not nginx's own.
    assert response.json()["status"] == 301
    page = stack.get("/", allow_redirects=False)
    assert (page.status_code, page.headers["Location"]) == (301, f"{https}/")
    assert "<h1>301 Moved Permanently</h1>" in page.text


def test_plain_http_on_the_https_port_gets_the_stacks_400(tls_stack: tuple[Stack, str]) -> None:
    """nginx's 497, which it sends as 400: the stack's page, not nginx's."""
    stack, https = tls_stack
    reply = send(stack, b"GET /api/whoami HTTP/1.1\r\nHost: t\r\n\r\n", port=int(https.rsplit(":", 1)[1]))
    assert reply.status == 400, reply
    page = json.loads(reply.body)
    assert (page["status"], page["request_id"]) == (400, reply.headers["X-Request-ID"])


def test_https_serves_the_app_which_sees_scheme_https(tls_stack: tuple[Stack, str], certs: Path) -> None:
    stack, https = tls_stack
    response = requests.get(f"{https}/api/whoami", verify=str(certs / "tls.crt"), timeout=30)
    assert response.status_code == 200
    assert response.json()["scheme"] == "https"
    assert response.json()["server"] == stack.backend
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    static = requests.get(f"{https}/static/css/app.css", verify=str(certs / "tls.crt"), timeout=30)
    assert static.status_code == 200
    assert "Strict-Transport-Security" in static.headers


def test_https_negotiates_http2(tls_stack: tuple[Stack, str], certs: Path) -> None:
    _, https = tls_stack
    port = int(https.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(certs / "tls.crt"))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_a_missing_certificate_stops_up_instead_of_mounting_a_directory(
    new_stack: StackFactory, tmp_path: Path
) -> None:
    missing = {"TLS_CERT": str(tmp_path / "missing.crt"), "TLS_KEY": str(tmp_path / "missing.key")}
    stack = new_stack(*TLS_FILES, start=False, **missing)
    up = stack.up_fails()
    # Compose names whichever of the two it checks first.
    assert "bind source path does not exist" in up.stderr
    assert "missing.crt" in up.stderr or "missing.key" in up.stderr
    assert not (tmp_path / "missing.crt").exists()
    assert not (tmp_path / "missing.key").exists()


def handshake(https: str, certificate: Path, version: ssl.TLSVersion) -> str | None:
    """The cipher of a handshake with nginx offering only `version`; None if refused."""
    port = int(https.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(certificate))
    context.minimum_version = context.maximum_version = version
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            cipher = tls.cipher()
            return cipher[0] if cipher else ""
    except ssl.SSLError:
        return None


# Offering TLS 1.1 alone is the point: nginx must refuse it.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_the_graded_protocols_and_ciphers_are_what_this_backend_serves(
    tls_stack: tuple[Stack, str], certs: Path
) -> None:
    # What testssl.sh grades on one backend (testssl/), checked on each: TLS 1.2 and 1.3
    # only, forward secrecy and an AEAD cipher on 1.2 (nginx/templates/https.conf.template).
    _, https = tls_stack
    certificate = certs / "tls.crt"
    assert handshake(https, certificate, ssl.TLSVersion.TLSv1_1) is None
    assert handshake(https, certificate, ssl.TLSVersion.TLSv1_3) is not None
    cipher = handshake(https, certificate, ssl.TLSVersion.TLSv1_2)
    assert cipher is not None
    assert cipher.startswith("ECDHE-"), cipher
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher
