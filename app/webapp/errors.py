"""Error responses: JSON under /api/, HTML elsewhere, never a traceback."""

from __future__ import annotations

import traceback

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _respond(error: HTTPException) -> tuple[Response | str, int]:
    code = error.code or 500
    if _wants_json():
        return jsonify(error=error.name, status=code, detail=error.description), code
    return render_template("error.html", error=error, code=code), code


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int]:
        return _respond(error)

    @app.errorhandler(Exception)
    def unhandled(error: Exception) -> tuple[Response | str, int]:
        # The traceback goes to the log, where operators look; the client gets a plain 500,
        # except in debug mode (development only: compose.dev.yaml), where it gets the traceback.
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if app.debug:
            trace = traceback.format_exc()
            if _wants_json():
                return jsonify(error="Internal Server Error", status=500, traceback=trace), 500
            return render_template("error.html", error=InternalServerError(), code=500, traceback=trace), 500
        return _respond(InternalServerError())
