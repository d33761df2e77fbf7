"""WebSockets on both servers, with one API for the app: flask-sock's (ws/README.md).

The app writes `sock = Sock(app)` and `@sock.route(...)` handlers that `ws.receive()` and
`ws.send()`. flask-sock (simple-websocket underneath) takes the client's connection from the
server's environ once the handshake is in: Gunicorn puts it there (gunicorn.socket), uWSGI does
not. Under uWSGI, tunnel() below hands it the connection the same way, and when the socket is
done ends the request with nothing more on the wire (uwsgi.disconnect), as Gunicorn does.

The socket's limits are the stack's settings, unless the app sets SOCK_SERVER_OPTIONS itself:
pings under nginx's read timeout, and a largest message, past which the socket closes with 1009.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from flask import Flask

from stackctl import parse_size

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def configure(app: Flask, environ: Mapping[str, str]) -> None:
    """flask-sock's options from the stack's settings, where the app has not set its own."""
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "ping_interval": float(environ.get("WEBSOCKET_PING_INTERVAL", "20")),
            "max_message_size": parse_size(environ.get("WEBSOCKET_MAX_MESSAGE", "1m")),
        },
    )


def is_handshake(environ: WSGIEnvironment) -> bool:
    return str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket"


def tunnel(app: WSGIApplication) -> WSGIApplication:
    """Under uWSGI, hand a WebSocket handshake's connection to the app as Gunicorn does;
    elsewhere, the app as it is."""
    try:
        import uwsgi  # the server's own module, inside it only
    except ImportError:
        return app
    # Outside the server, `uwsgi` is pyuwsgi's launcher, without them.
    connection_fd, disconnect = getattr(uwsgi, "connection_fd", None), getattr(uwsgi, "disconnect", None)
    if connection_fd is None or disconnect is None:
        return app

    def tunnelled(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not is_handshake(environ):
            return app(environ, start_response)
        # The same connection, as a blocking socket: uWSGI's are non-blocking, and simple-websocket
        # reads with blocking recv().
        connection = socket.socket(fileno=os.dup(connection_fd()))
        connection.setblocking(True)
        environ["gunicorn.socket"] = connection
        try:
            return app(environ, start_response)
        except StopIteration:
            # flask-sock's way of telling Gunicorn the socket is done and nothing is to be sent.
            disconnect()
            return []

    return tunnelled
