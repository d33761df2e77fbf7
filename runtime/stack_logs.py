"""The app's logging, as the stack sets it up for any app: every line carries the request's ID
(X-Request-ID) and its W3C trace ID (from traceparent), both of which nginx sets, one JSON
object per line with LOG_FORMAT=json, like nginx's access log. Apps log with
logging.getLogger(__name__) or app.logger and get this."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from flask import has_request_context, request

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] id=%(request_id)s trace=%(trace_id)s %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request's ID and trace ID, or "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = record.trace_id = "-"
        if has_request_context():
            record.request_id = request.headers.get("X-Request-ID", "-")
            # traceparent: version-traceid-parentid-flags; nginx passes only a valid one.
            fields = request.headers.get("traceparent", "").split("-")
            record.trace_id = fields[1] if len(fields) == 4 else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, like nginx's access log with LOG_FORMAT=json."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "trace_id": getattr(record, "trace_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(log_format: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the root logger to stderr (the server's log, so `docker compose logs`) in one format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
