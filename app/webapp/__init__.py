"""Sample Flask application served behind nginx by uWSGI or Gunicorn."""

from __future__ import annotations

from typing import Any

from flask import Flask

import stack_database


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application; ``test_config`` overrides everything else."""
    app = Flask(__name__)
    # FLASK_SECRET_KEY, FLASK_MAX_CONTENT_LENGTH, ...: any Flask setting from the environment;
    # the app's own settings (settings.env) as WEBAPP_*: WEBAPP_GREETING is config["GREETING"].
    app.config.from_prefixed_env()
    app.config.from_prefixed_env("WEBAPP")
    if test_config:
        app.config.from_mapping(test_config)

    from . import errors, live, views

    app.register_blueprint(views.bp)
    # The page's live part, with the stack's WebSockets (ws/).
    live.register(app)
    # Notes need the database: with postgres/ (or any DATABASE_URL), not without.
    if stack_database.enabled():
        from . import notes

        app.register_blueprint(notes.bp)
    errors.register(app)
    return app
