"""WebSockets on both servers, with one API for the app: flask-sock's (ws/README.md).

The app writes `sock = Sock(app)` and `@sock.route(...)` handlers that `ws.receive()` and
`ws.send()`. flask-sock (simple-websocket underneath) takes the client's connection from the
server's environ once the handshake is in: Gunicorn puts it there (gunicorn.socket), uWSGI does
not. tunnel() below hands it a connection of its own on both, and under uWSGI, when the socket
is done, ends the request with nothing more on the wire (uwsgi.disconnect), as Gunicorn does.

The socket's limits are the stack's settings, unless the app sets SOCK_SERVER_OPTIONS itself:
pings under nginx's read timeout, and a largest message, past which the socket closes with 1009.

When its server stops, a worker closes every socket it holds with 1001 (going away), so clients
know to reconnect, to the new container of a `make reload` among others, and the worker's
threads end within the graceful stop instead of being killed at its end. Gunicorn's worker does
it on its SIGTERM (gunicorn/gunicorn.conf.py); a uWSGI worker, which gets no signal Python can
take, when it sees its master's graceful stop (runtime/stack_stop.py), from a thread it runs
while it holds sockets.

Counted for Prometheus (runtime/stack_metrics.py serves them, every worker's added up): the
sockets open now, those closed by the code that closed them, and the messages each way. A socket
is not a request: its handshake is left out of the request metrics (stack_wsgi.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask
from prometheus_client import Counter, Gauge

import stack_stop
from stackctl import parse_size

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


# This process's open sockets (simple-websocket's Server objects), each with its reader thread.
_open: dict[Any, Tracked] = {}
_lock = threading.Lock()
# The process that watches for uWSGI's graceful stop (a forked worker is not it).
_watching: int | None = None

# Close code 1001: "going away", a server going down (RFC 6455, 7.4.1).
GOING_AWAY = 1001
# How long the server's end of a connection waits for the app's socket to send its last frame.
LAST_FRAME_SECONDS = 2.0
# Close code 1006: no close frame, the connection was lost (RFC 6455, 7.1.5); never sent.
ABNORMAL = 1006

# Multiprocess (the Dockerfile's PROMETHEUS_MULTIPROC_DIR): each worker writes its own files.
OPEN = Gauge("stack_websocket_open", "WebSockets open now", multiprocess_mode="livesum", registry=None)
CLOSED = Counter(
    "stack_websocket_closed",
    "WebSockets closed, by the close code of the side that closed first",
    ["code"],
    registry=None,
)
MESSAGES = Counter("stack_websocket_messages", "Whole WebSocket messages, by direction", ["direction"], registry=None)
for _direction in ("received", "sent"):
    MESSAGES.labels(_direction)


def code_label(code: int) -> str:
    """A close code as a label: the protocol's own (1000-2999) as they are, an application's
    (3000-4999, any the client picks) by their thousand, so clients cannot add series at will."""
    return str(code) if code < 3000 else f"{code // 1000}xxx"


class Tracked(threading.Thread):
    """simple-websocket's reader thread for one socket (its thread_class): the socket is open while
    it runs. Its target is the socket's own method, hence the socket."""

    def __init__(self, target: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(target=target, daemon=True, **kwargs)
        self.socket = getattr(target, "__self__", None)
        # The first close frame on the wire, either side's: the server's answer to a client's
        # close repeats its code.
        self.code = ABNORMAL
        if self.socket is not None:
            self.count(self.socket.ws)

    def count(self, connection: Any) -> None:
        """Count what crosses `connection` (the socket's wsproto connection): every frame is
        sent and every event read through it."""
        # simple-websocket's own dependency, there whenever a socket is (ws/requirements.in).
        from wsproto.events import CloseConnection, Message

        send, events = connection.send, connection.events

        def sending(event: Any) -> bytes:
            if isinstance(event, CloseConnection) and self.code == ABNORMAL:
                self.code = event.code
            elif isinstance(event, Message) and event.message_finished:
                MESSAGES.labels("sent").inc()
            return send(event)  # type: ignore[no-any-return]

        def reading() -> Iterator[Any]:
            for event in events():
                if isinstance(event, Message) and event.message_finished:
                    MESSAGES.labels("received").inc()
                yield event

        connection.send, connection.events = sending, reading

    def run(self) -> None:
        with _lock:
            _open[self.socket] = self
        watch_uwsgi_stop()
        OPEN.inc()
        try:
            super().run()
        finally:
            OPEN.dec()
            CLOSED.labels(code_label(self.code)).inc()
            with _lock:
                _open.pop(self.socket, None)
            # The socket is closed: wake a handler waiting in receive(), which then raises
            # ConnectionClosed. simple-websocket 1.1 wakes it before it marks the socket closed
            # when it closes one itself (1009): a handler that looked in between waited for
            # good, holding its thread.
            if self.socket is not None:
                self.socket.event.set()


def going_away() -> None:
    """Close every socket this process holds with 1001; their handlers then end."""
    with _lock:
        sockets = list(_open)
    for ws in sockets:
        with contextlib.suppress(Exception):  # closed meanwhile
            ws.close(GOING_AWAY, "server going away")


def watch_uwsgi_stop() -> None:
    """In a uWSGI worker, once per process: a thread that closes the sockets when the master's
    graceful stop begins."""
    global _watching
    master = os.getppid()
    with _lock:
        if _watching == os.getpid() or not stack_stop.under_uwsgi_worker():
            return
        _watching = os.getpid()

    def watch() -> None:
        while not stack_stop.stop_began(master):
            time.sleep(stack_stop.POLL_SECONDS)
        going_away()

    threading.Thread(target=watch, name="websocket-stop", daemon=True).start()


def configure(app: Flask, environ: Mapping[str, str]) -> None:
    """flask-sock's options from the stack's settings, where the app has not set its own."""
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "ping_interval": float(environ.get("WEBSOCKET_PING_INTERVAL", "20")),
            "max_message_size": parse_size(environ.get("WEBSOCKET_MAX_MESSAGE", "1m")),
            "thread_class": Tracked,
        },
    )


def paths(environ: Mapping[str, str]) -> list[str]:
    """The WebSocket routes' paths, as regexes, if the stack has them (WEBSOCKET_PATH)."""
    path = environ.get("WEBSOCKET_PATH", "")
    return [f"^{re.escape(path)}"] if path else []


def is_handshake(environ: WSGIEnvironment) -> bool:
    return str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket"


def tunnel(app: WSGIApplication) -> WSGIApplication:
    """Hand a WebSocket handshake's connection to the app, as a socket of its own, the same way on
    both servers (environ["gunicorn.socket"], where flask-sock looks for it).

    Of its own: simple-websocket closes the socket it was given when the client goes, from its
    own thread, while the server still holds the connection. Given the server's, that closed it
    under the server, which then counted it closed twice (Gunicorn's gthread worker: its count of
    open connections went below zero and it took more than its threads could serve). A duplicate
    leaves the server's to the server; it ends the connection, as after any request, once the app
    has returned.
    """
    try:
        import uwsgi  # the server's own module, inside it only

        # Outside the server, `uwsgi` is pyuwsgi's launcher, without them.
        connection_fd, disconnect = getattr(uwsgi, "connection_fd", None), getattr(uwsgi, "disconnect", None)
    except ImportError:
        connection_fd = disconnect = None

    def tunnelled(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not is_handshake(environ):
            return app(environ, start_response)
        if connection_fd is not None and disconnect is not None:
            # uWSGI's connection, made blocking: uWSGI's are non-blocking, and simple-websocket
            # reads with blocking recv().
            connection = socket.socket(fileno=os.dup(connection_fd()))
            connection.setblocking(True)
        elif "gunicorn.socket" in environ:
            connection = environ["gunicorn.socket"].dup()
        else:
            return app(environ, start_response)
        environ["gunicorn.socket"] = connection
        try:
            return app(environ, start_response)
        except StopIteration:
            # The socket's reader sends its last frame (the close, after a protocol error) once
            # it has woken the handler: the server's end waits for it, or Gunicorn's shutdown of
            # the connection would cut it off.
            with _lock:
                readers = [reader for ws, reader in _open.items() if getattr(ws, "sock", None) is connection]
            for reader in readers:
                reader.join(LAST_FRAME_SECONDS)
            # flask-sock's way of telling Gunicorn the socket is done and nothing is to be sent;
            # uWSGI is told so by disconnect().
            if disconnect is None:
                raise
            disconnect()
            return []

    return tunnelled
