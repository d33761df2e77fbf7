"""What both servers load (stack_wsgi:app): the app from app/wsgi.py, with what the stack owes it.

Any Flask app gets, without a line of its own: the client's address, scheme and host as nginx
saw them (one trusted proxy hop), MAX_BODY_SIZE as its body limit too, the /healthz route the
healthchecks use and /readyz, the running server's name in SERVER_SOFTWARE, its request body
read whole before it answers, log lines that carry the request's and the trace's IDs (runtime/stack_logs.py),
Prometheus metrics from every worker on an internal port (runtime/stack_metrics.py), and
OpenTelemetry spans when the OTEL_* variables ask for them, and with DATABASE_URL a database
engine per worker and outages answered 503 (runtime/stack_database.py), and flask-sock's
WebSocket routes on uWSGI as on Gunicorn (runtime/stack_websocket.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request
from flask.logging import default_handler
from werkzeug.middleware.proxy_fix import ProxyFix

import stack_database
import stack_logs
import stack_metrics
import stack_websocket
import wsgi
from stackctl import HEALTH_PATH, READY_PATH, metrics_port, parse_size, workers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The app a fork brings: the one name app/wsgi.py must define.
flask_app: Flask = wsgi.app


class ReadWholeBody:
    """WSGI middleware: read what a request handler left of the body before its response goes out.

    A handler may answer without reading the body (a 405, a 404, a refused upload). If the
    server then answers and closes, nginx, still sending that body, gets EPIPE and turns the
    real answer into a 502 for a share of such requests. Reading the rest first (bounded by
    nginx's MAX_BODY_SIZE, over the local socket) lets every early answer through as it is.
    It is read just before the response's first piece: a streamed response that reads the
    body while producing it still gets all of it. Requests without a body pass untouched.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("CONTENT_LENGTH", "") in ("", "0"):
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"]
        return _after_body(self.wsgi_app(environ, start_response), body)


def _after_body(response: Iterable[bytes], body: Any) -> Iterator[bytes]:
    try:
        chunks = iter(response)
        first = next(chunks, None)
        while body.read(65536):
            pass
        if first is not None:
            yield first
            yield from chunks
    finally:
        # PEP 3333: the server calls close() on what the app returned; this generator stands in.
        close = getattr(response, "close", None)
        if close is not None:
            close()


def server_name(environ: WSGIEnvironment) -> str:
    """The WSGI server running this request: the name in SERVER_SOFTWARE ("uwsgi", "gunicorn")."""
    return str(environ.get("SERVER_SOFTWARE", "unknown")).split("/", 1)[0].lower()


def healthz() -> Response:
    return jsonify(status="ok", server=server_name(request.environ))


def stack(app: Flask) -> WSGIApplication:
    """Wrap the app as the stack serves it (see the module's docstring)."""
    # The root logger's handler (stack_logs) writes every line once: not Flask's own as well.
    app.logger.removeHandler(default_handler)
    # The one body-size setting of the stack: nginx enforces it first (413, the app never sees
    # the body); Flask knows it too, so the app is safe when reached some other way.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = parse_size(os.environ.get("MAX_BODY_SIZE", "10m"))
    app.add_url_rule(HEALTH_PATH, "stack_healthz", healthz, methods=["GET"])
    app.add_url_rule(READY_PATH, "stack_readyz", stack_database.readyz, methods=["GET"])
    if stack_database.enabled():
        stack_database.init_app(app)
    stack_websocket.configure(app, os.environ)
    # nginx is the only client and overwrites X-Forwarded-For/-Proto/-Host with what it saw, so
    # trusting exactly one hop gives the real client address and scheme and nothing a client
    # sent itself. https://werkzeug.palletsprojects.com/en/latest/middleware/proxy_fix/
    wrapped = ReadWholeBody(ProxyFix(app, x_for=1, x_proto=1, x_host=1))

    def named(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Gunicorn names itself ("gunicorn/27.0.1"); uWSGI leaves it to the web server, and
        # nginx's uwsgi_params do not set it. uWSGI puts its version in every environ.
        if (version := environ.get("uwsgi.version")) is not None:
            environ["SERVER_SOFTWARE"] = "uwsgi/" + (version.decode() if isinstance(version, bytes) else str(version))
        return wrapped(environ, start_response)

    return stack_websocket.tunnel(named)


def tracing(app: Flask, environ: Mapping[str, str]) -> bool:
    """OpenTelemetry spans for the app's requests, when OTEL_TRACES_EXPORTER=otlp; off otherwise.

    The standard OTEL_* variables configure the rest: the OTLP/HTTP endpoint, the service name,
    the sampler. A span continues the trace in the traceparent nginx passes (nginx.conf). Set up
    once, in the process that imports the app: both servers fork their workers from it, and the
    SDK's batch processor restarts its export thread in each child (os.register_at_fork).
    """
    exporter = environ.get("OTEL_TRACES_EXPORTER", "none")
    if exporter == "none" or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if exporter != "otlp":
        raise SystemExit(f"stack_wsgi: OTEL_TRACES_EXPORTER must be otlp or none, not {exporter!r}")
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()  # its resource from OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # The health and readiness checks' requests (one a second per container) are not traffic: no
    # span for them, beside whatever the standard variable excludes.
    excluded = ",".join(
        filter(None, [f"{HEALTH_PATH}$", f"{READY_PATH}$", environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS")])
    )
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls=excluded)  # type: ignore[no-untyped-call]
    return True


stack_logs.configure(os.environ.get("LOG_FORMAT", "json"))
tracing(flask_app, os.environ)
# With APP_METRICS=on, counted wherever the app image runs the app (PROMETHEUS_MULTIPROC_DIR: the
# Dockerfile). Served from the server's master, the container's PID 1 (stackctl serve execs it),
# not a Gunicorn worker that imports the app itself (APP_RELOAD=on), a build step or a probe:
# Gunicorn's from a thread, uWSGI's by a daemon it runs (stackctl serve). The health checks are
# not the app's traffic, and a socket, counted as one, is not a request.
if port := metrics_port(os.environ):
    stack_metrics.setup(
        flask_app,
        excluded=[f"^{HEALTH_PATH}$", f"^{READY_PATH}$", *stack_websocket.paths(os.environ)],
        master=os.getpid() == 1,
        port=port if os.environ.get("APP_SERVER") == "gunicorn" else None,
        slots=workers(os.environ.get("APP_WORKERS", "auto")) * int(os.environ.get("APP_THREADS", "1")),
    )
app = stack(flask_app)
