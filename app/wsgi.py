"""WSGI entry point for both servers: uWSGI and Gunicorn load ``wsgi:app`` (see WSGI_APP)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from webapp import create_app

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def read_whole_body(wsgi_app: WSGIApp) -> WSGIApp:
    """Read what a request handler left of the body before its response goes out.

    A handler may answer without reading the body (a 405, a 404, a refused upload). If the
    server then answers and closes, nginx, still sending that body, gets EPIPE and turns the
    real answer into a 502 for a share of such requests. Reading the rest first (bounded by
    nginx's MAX_BODY_SIZE, over the local socket) lets every early answer through as it is.
    It is read just before the response's first piece: a streamed response that reads the
    body while producing it still gets all of it. Requests without a body pass untouched.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("CONTENT_LENGTH", "") in ("", "0"):
            return wsgi_app(environ, start_response)
        body = environ["wsgi.input"]
        return _after_body(wsgi_app(environ, start_response), body)

    return app


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
app.wsgi_app = read_whole_body(app.wsgi_app)  # type: ignore[method-assign]
