"""The app the stack's own tests run behind nginx, on both servers: built only for them (make
test builds it in place of app/, Dockerfile's APP_DIR), with the routes they need to provoke
what the stack must handle. Not an example: the sample a fork starts from is app/.

One module: the tests append routes to it (make reload, development mode) as a fork's change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import traceback
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, insert, select, text
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers.response import Response as BaseResponse

import stack_database

app = Flask(__name__)
app.config.from_prefixed_env()
log = logging.getLogger(__name__)

PATTERN = bytes(range(256))
# The bounds of the provoking routes: a stuck request (APP_TIMEOUT is cut first), a long stream.
SLOW_MAX, STREAM_MAX, BYTES_MAX = 60, 1000, 1024 * 1024


def server() -> str:
    """The WSGI server answering: the name in SERVER_SOFTWARE, which the stack sets for both."""
    return str(request.environ.get("SERVER_SOFTWARE", "unknown")).split("/", 1)[0].lower()


def number(name: str, default: float | None, low: float, high: float, *, whole: bool = False) -> float:
    """A query parameter within [low, high], or a 400 saying what is allowed."""
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            abort(400, description=f"query parameter '{name}' is required")
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        abort(400, description=f"'{name}' must be a {'whole number' if whole else 'number'} from {low:g} to {high:g}")
    return value


@app.get("/")
def index() -> str:
    return render_template("index.html")


@app.get("/home")
def home() -> BaseResponse:
    return redirect(url_for("index"))


@app.get("/api/whoami")
def whoami() -> Response:
    return jsonify(identity())


def identity() -> dict[str, object]:
    """Who the request came from and what reached the app with it, as the app sees them."""
    return dict(
        remote_addr=request.remote_addr,
        scheme=request.scheme,
        host=request.host,
        script_root=request.script_root,
        url=url_for("whoami", _external=True),
        server=server(),
        pid=os.getpid(),
        request_id=request.headers.get("X-Request-ID"),
        traceparent=request.headers.get("traceparent"),
        tracestate=request.headers.get("tracestate"),
        headers=sorted(request.headers.keys()),
    )


@app.post("/api/echo")
def echo() -> Response:
    """The body's size and digest, read in pieces and never past Content-Length (PEP 3333)."""
    digest, size, remaining = hashlib.sha256(), 0, request.content_length
    while remaining is None or remaining > 0:
        chunk = request.stream.read(65536 if remaining is None else min(65536, remaining))
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        remaining = None if remaining is None else remaining - len(chunk)
    log.info("echo: %d bytes, sha256 %s", size, digest.hexdigest())
    return jsonify(bytes=size, sha256=digest.hexdigest())


@app.get("/api/stream")
def stream() -> Response:
    chunks = int(number("chunks", 10, 1, STREAM_MAX, whole=True))
    interval = number("interval", 0.1, 0, 1)

    def lines() -> Iterator[str]:
        for i in range(chunks):
            if i:
                time.sleep(interval)
            yield f"{i} {time.time():.6f}\n"  # when it was made: the client proves it came early

    return Response(lines(), mimetype="text/plain", headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


@app.get("/api/bytes")
def payload() -> Response:
    size = int(number("size", 65536, 0, BYTES_MAX, whole=True))
    return Response(PATTERN * (size // 256) + PATTERN[: size % 256], mimetype="application/octet-stream")


@app.get("/api/slow")
def slow() -> Response:
    seconds = number("seconds", None, 0, SLOW_MAX)
    time.sleep(seconds)
    return jsonify(slept=seconds, server=server(), pid=os.getpid())


# The routes that need the database (postgres/tests): which worker and which database session
# answered, and writes that must all be there afterwards. Served only with a database
# (DATABASE_URL); the table comes from tests/app/migrations.
metadata = MetaData()
writes = Table("writes", metadata, Column("id", Integer, primary_key=True), Column("tag", Text, nullable=False))

database = Blueprint("database", __name__, url_prefix="/db")


@database.get("/session")
def session() -> Response:
    """This worker's PID and its database session's, through the same connection twice: a
    connection shared with another process would answer for a session that is not this one's."""
    marker = request.args.get("marker", "")
    with stack_database.engine().connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        echoed = connection.execute(text("SELECT CAST(:marker AS text), pg_sleep(0.01)"), {"marker": marker}).scalar()
    return jsonify(pid=os.getpid(), backend_pid=backend, marker=echoed)


@database.post("/writes")
def write() -> tuple[Response, int]:
    with stack_database.engine().begin() as connection:
        statement = insert(writes).values(tag=request.args.get("tag", "")).returning(writes.c.id)
        row_id = connection.execute(statement).scalar_one()
    return jsonify(id=row_id), 201


@database.get("/writes/<int:row_id>")
def read(row_id: int) -> Response:
    """One row by its key, as most reads are: make bench's database-backed read."""
    with stack_database.engine().connect() as connection:
        row = connection.execute(select(writes).where(writes.c.id == row_id)).mappings().one_or_none()
    if row is None:
        abort(404, description=f"no write {row_id}")
    return jsonify(dict(row))


@database.get("/writes")
def count() -> Response:
    """The IDs written with this tag."""
    with stack_database.engine().connect() as connection:
        ids = connection.execute(select(writes.c.id).where(writes.c.tag == request.args.get("tag", ""))).scalars().all()
        total = connection.execute(select(func.count()).select_from(writes)).scalar_one()
    return jsonify(ids=list(ids), total=total)


if stack_database.enabled():
    app.register_blueprint(database)
    # As many apps do, a query at import, in the process both servers fork their workers from:
    # its pooled connection is the one no worker may share (postgres/tests).
    try:
        with stack_database.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError:
        log.warning("the database did not answer at import: each worker connects when it needs to")


# WebSocket routes (ws/tests), with flask-sock when the image has it (ws/):
# messages echoed as they came, "whoami" answered with the handshake's identity().
try:
    import flask_sock
except ImportError:
    flask_sock = None

if flask_sock is not None:
    sock = flask_sock.Sock(app)

    @sock.route("/ws/echo")
    def ws_echo(ws: Any) -> None:
        while True:
            message = ws.receive()
            ws.send(json.dumps(identity()) if message == "whoami" else message)


def error_page(error: HTTPException, trace: str | None = None) -> tuple[Response | str, int]:
    """JSON under /api/, HTML elsewhere; the traceback only in debug mode (development)."""
    code = error.code or 500
    if request.path.startswith("/api/"):
        body = {"error": error.name, "status": code, "detail": error.description}
        return jsonify(body | ({"traceback": trace} if trace else {})), code
    return render_template("error.html", code=code, error=error, traceback=trace), code


@app.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response | str, int]:
    return error_page(error)


@app.errorhandler(Exception)
def unhandled(error: Exception) -> tuple[Response | str, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(InternalServerError(), traceback.format_exc() if app.debug else None)
