"""WSGI entry point for both servers: uWSGI and Gunicorn load ``wsgi:app`` (see WSGI_APP)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from webapp import create_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


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


app = create_app()
app.wsgi_app = ReadWholeBody(app.wsgi_app)  # type: ignore[method-assign]
