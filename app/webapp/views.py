"""Routes of the sample application."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

bp = Blueprint("main", __name__)

_READ_CHUNK = 64 * 1024


def wsgi_server(environ: Mapping[str, object]) -> str:
    """Name the WSGI server running this request, from SERVER_SOFTWARE ("gunicorn/27.0.1"),
    which the stack sets for uWSGI too (runtime/stack_wsgi.py)."""
    return str(environ.get("SERVER_SOFTWARE", "unknown")).split("/", 1)[0].lower()


@bp.get("/")
def index() -> str:
    live = "live" in current_app.view_functions
    return render_template("index.html", live_url=url_for("live") if live else None)


@bp.get("/home")
def home() -> BaseResponse:
    """The page's old address: a redirect, which must stay under the mount point (APP_PREFIX)."""
    return redirect(url_for("main.index"))


@bp.get("/api/whoami")
def whoami() -> Response:
    return jsonify(
        remote_addr=request.remote_addr,
        scheme=request.scheme,
        host=request.host,
        script_root=request.script_root,
        # An absolute link, as url_for builds it for emails and redirects elsewhere.
        url=url_for("main.whoami", _external=True),
        server=wsgi_server(request.environ),
        pid=os.getpid(),
        request_id=request.headers.get("X-Request-ID"),
        # W3C trace context as it reached the app (nginx keeps a valid one or starts a trace).
        traceparent=request.headers.get("traceparent"),
        tracestate=request.headers.get("tracestate"),
        # Names only: what reached the app, for checking what nginx lets through.
        headers=sorted(request.headers.keys()),
    )


@bp.post("/api/echo")
def echo() -> Response:
    digest = hashlib.sha256()
    size = 0
    # Read in pieces, so a body up to the limit never sits in memory whole, and never past
    # Content-Length (PEP 3333): under Gunicorn, which sets wsgi.input_terminated, one more read
    # after exactly MAX_CONTENT_LENGTH bytes raises 413 (pallets/werkzeug#2620). nginx buffers
    # the body and always sends its length; without one, read to the end.
    remaining = request.content_length
    while remaining is None or remaining > 0:
        chunk = request.stream.read(_READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    current_app.logger.info("echo: %d bytes, sha256 %s", size, digest.hexdigest())
    return jsonify(bytes=size, sha256=digest.hexdigest())
