"""Hardening, read from the running containers (docker inspect, /proc), not from compose.yaml."""

from __future__ import annotations

import json

import pytest

from .stack import Stack, assert_unprivileged, send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.mark.parametrize("service", ["app", "nginx"])
def test_containers_run_unprivileged_on_a_read_only_root(stack: Stack, service: str) -> None:
    assert_unprivileged(stack, service)

    # Writes land only on the tmpfs mounts.
    denied = stack.compose("exec", "-T", service, "touch", "/srv/written", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    stack.exec(service, "touch", "/tmp/written")
    mounts = stack.exec(service, "cat", "/proc/mounts")
    assert any(line.split()[1:3] == ["/tmp", "tmpfs"] for line in mounts.splitlines())


def test_only_nginx_publishes_a_port_on_loopback(stack: Stack) -> None:
    published = {}
    for service in ("config", "app", "nginx"):
        ports = json.loads(stack.inspect(service, "{{json .HostConfig.PortBindings}}")) or {}
        published[service] = {port: [binding["HostIp"] for binding in bindings] for port, bindings in ports.items()}
    assert published == {"config": {}, "app": {}, "nginx": {"8080/tcp": ["127.0.0.1"]}}
    # And nginx inside listens only on its unprivileged port (besides Docker's DNS resolver on
    # 127.0.0.11, which every container on a user-defined network has).
    ports = set()
    for line in stack.exec("nginx", "cat", "/proc/net/tcp", "/proc/net/tcp6").splitlines():
        fields = line.split()
        if fields[3:4] == ["0A"] and not fields[1].startswith("0B00007F:"):  # LISTEN, not 127.0.0.11
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    assert ports == {8080}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),  # the app's page
        ("/api/whoami", 200),  # the app's JSON
        ("/static/css/app.css", 200),  # nginx's static file
        ("/static/missing.css", 404),  # nginx's error page
        ("/api/missing", 404),  # the app's error
        ("/static/../../etc/passwd", 400),  # nginx's, for a bad request
    ],
)
def test_security_headers_on_every_response_and_no_version(stack: Stack, path: str, status: int) -> None:
    # Sent raw, so nginx sees exactly this path (HTTP clients resolve ../ themselves).
    reply = send(stack, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    headers, body = reply.headers, reply.body
    assert reply.status == status
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Request-ID"]
    assert headers["Server"] == "nginx"  # server_tokens off: no version
    assert "nginx/" not in body
    # HSTS only over HTTPS (tests/e2e/test_tls.py checks it there).
    assert "Strict-Transport-Security" not in headers
