"""The page's live part, over a WebSocket (ws/README.md): what a visitor says comes back, with
how many sockets the worker that holds theirs has open.

Registered when the stack serves WebSockets: flask-sock installed (ws/requirements.in) and
WEBSOCKET_PATH set (ws/compose.yaml), under which the route is. Without ws/, the page has no
live part.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from flask import Flask, request

from .views import wsgi_server

# This worker's open sockets on the route.
_lock = threading.Lock()
_open = 0


def register(app: Flask) -> None:
    """Add the route to `app` if the stack serves WebSockets."""
    path = os.environ.get("WEBSOCKET_PATH")
    if not path:
        return
    try:
        from flask_sock import Sock
    except ImportError:
        return
    Sock(app).route(f"{path}live", endpoint="live")(live)


def live(ws: Any) -> None:
    """Each message back, as the page shows it. Its size is bounded by WEBSOCKET_MAX_MESSAGE, and
    the socket's life by the visitor: it holds a thread of the ws service, not the app's."""
    global _open
    with _lock:
        _open += 1
    try:
        while True:
            said = ws.receive()
            with _lock:
                here = _open
            ws.send(json.dumps({"said": said, "sockets": here, "server": wsgi_server(request.environ)}))
    finally:
        with _lock:
            _open -= 1
