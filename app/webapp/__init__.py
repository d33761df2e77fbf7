"""Sample Flask application served behind nginx by uWSGI or Gunicorn."""

from __future__ import annotations

import os
import re
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: str) -> int:
    """Convert an nginx-style size (``10m``, ``512k``, ``1048576``) to bytes."""
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (expected e.g. 10m, 512k or a byte count)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application; ``test_config`` overrides everything else."""
    app = Flask(__name__)
    app.config.from_mapping(
        # The one body-size setting of the stack: nginx enforces it first (413, the app never
        # sees the body); Flask knows it too, so the app is safe when reached some other way.
        MAX_CONTENT_LENGTH=parse_size(os.environ.get("MAX_BODY_SIZE", "10m")),
        SLOW_MAX_SECONDS=60,
        STREAM_MAX_CHUNKS=1000,
        BYTES_MAX=1024 * 1024,
    )
    # FLASK_SECRET_KEY, FLASK_MAX_CONTENT_LENGTH, ...: any Flask setting from the environment.
    app.config.from_prefixed_env()
    if test_config:
        app.config.from_mapping(test_config)

    # nginx is the only client and overwrites X-Forwarded-For/-Proto/-Host with what it saw, so
    # trusting exactly one hop gives the real client address and scheme and nothing a client
    # sent itself. https://werkzeug.palletsprojects.com/en/latest/middleware/proxy_fix/
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    from . import errors, logs, views

    if not app.testing:
        logs.configure(os.environ.get("LOG_FORMAT", "json"))

    app.register_blueprint(views.bp)
    errors.register(app)
    return app
