#!/opt/venv/bin/python
"""Container healthcheck: GET /healthz over the app's unix socket, in the running server's protocol."""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

PATH = os.environ.get("APP_PREFIX", "") + "/healthz"


def uwsgi_packet(path: str) -> bytes:
    """Encode a GET as the uwsgi protocol does: a 4-byte header, then length-prefixed CGI vars."""
    params = {
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
    }
    body = b"".join(
        struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
        for k, v in ((k.encode(), v.encode()) for k, v in params.items())
    )
    return struct.pack("<BHB", 0, len(body), 0) + body


def own_socket() -> str:
    """This container's own socket, named as app/docker-entrypoint.sh names it: healthy means
    this server answers, whichever container APP_SOCKET points at during a replacement."""
    public = os.environ.get("APP_SOCKET", "/run/app/app.sock")
    return os.path.join(os.path.dirname(public), f"app-{socket.gethostname()}.sock")


def main() -> int:
    server = os.environ.get("APP_SERVER", "")
    if server == "uwsgi":
        request = uwsgi_packet(PATH)
    else:
        request = f"GET {PATH} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode()

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(float(os.environ.get("HEALTHCHECK_TIMEOUT", "3")))
        sock.connect(own_socket())
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk

    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 200 " not in f"{status} ":
        print(f"unhealthy: {status!r}", file=sys.stderr)
        return 1
    reported = json.loads(body).get("server")
    if reported != server:
        print(f"unhealthy: app reports server {reported!r}, expected {server!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        sys.exit(1)
