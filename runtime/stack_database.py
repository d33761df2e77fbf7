"""The app's database, when DATABASE_URL names one: a SQLAlchemy engine per process, readiness,
outages answered 503, and the app's migrations (Alembic).

Both servers fork their workers from a process that imported the app, and may fork more later
(recycling, a killed worker). A pool inherited across a fork shares its sockets with the parent
and every sibling: interleaved protocol bytes, "SSL error: decryption failed or bad record mac".
So `engine()` belongs to the process that calls it: in a new process it drops the inherited pool
without closing it (the parent's connections stay the parent's) and opens its own, whatever the
server, whether or not the app was preloaded, and with no server hook to remember.

DATABASE_URL is a SQLAlchemy URL without its password: postgresql+psycopg://app@/app?host=/run/postgresql
reaches PostgreSQL over a unix socket (postgres/), postgresql+psycopg://app@db.example.com/app a
managed one. The password comes from the file DATABASE_PASSWORD_FILE names (a Compose or
Kubernetes secret), never from the environment.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL, Engine

# nginx answers a request the app hands to this internal location with the stack's 503 page and
# its Retry-After (nginx/templates/app.conf.template): the same page on both servers.
UNAVAILABLE = "/_stack/unavailable"

_engine: Engine | None = None
_engine_pid = 0


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get("DATABASE_URL"))


def url(environ: Mapping[str, str] = os.environ) -> URL:
    """DATABASE_URL with the password from DATABASE_PASSWORD_FILE, if it names one."""
    from sqlalchemy.engine import make_url

    result = make_url(environ["DATABASE_URL"])
    if path := environ.get("DATABASE_PASSWORD_FILE"):
        result = result.set(password=Path(path).read_text().rstrip("\n"))
    return result


def engine() -> Engine:
    """This process's engine: made on first use in each process, never inherited."""
    global _engine, _engine_pid
    if _engine is None or _engine_pid != os.getpid():
        from sqlalchemy import create_engine

        if _engine is not None:
            # The parent's pool: forget it, closing nothing (psycopg leaves a connection made in
            # another process open when its object goes).
            _engine.dispose(close=False)
        timeout = int(os.environ.get("DATABASE_TIMEOUT", "5"))
        _engine = create_engine(
            url(),
            # A worker serves APP_THREADS requests at once: one connection each, and no more,
            # so the config check can count every connection the app may hold.
            pool_size=int(os.environ.get("APP_THREADS", "1")),
            max_overflow=0,
            # A connection the database dropped (a restart) is replaced before use, not failed.
            pool_pre_ping=True,
            # Waiting for a connection of the pool, or for the database to answer one: seconds,
            # well below APP_TIMEOUT, so an outage is a fast 503 rather than a stuck worker.
            pool_timeout=timeout,
            connect_args={
                "connect_timeout": timeout,
                # Which container and process holds a session, in pg_stat_activity.
                "application_name": f"{socket.gethostname()} pid {os.getpid()}",
            },
        )
        _engine_pid = os.getpid()
    return _engine


def readyz() -> tuple[Response, int]:
    """stackctl's READY_PATH: the database answers, or there is none."""
    if not enabled():
        return jsonify(status="ok"), 200
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return jsonify(status="unavailable", database=type(getattr(error, "orig", None) or error).__name__), 503
    return jsonify(status="ok", database="ok"), 200


def unavailable(error: Exception) -> Response:
    """The database is out of reach: nginx answers 503 with the stack's page and Retry-After."""
    response = Response(status=503)
    response.headers["X-Accel-Redirect"] = UNAVAILABLE
    return response


def init_app(app: Flask) -> None:
    """Outage handling for the app; nothing connects until a request needs it."""
    from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError

    # The database refused, reset or is shutting down (OperationalError), a connection closed
    # under the app (InterfaceError), no pooled connection free in time (TimeoutError): the
    # database is at fault, not the request, and a retry soon may succeed.
    for error in (OperationalError, InterfaceError, TimeoutError):
        app.register_error_handler(error, unavailable)


def run_migrations(target_metadata: MetaData | None) -> None:
    """The body of an app's migrations/env.py: Alembic's migrations on this process's engine.
    `target_metadata` is the app's tables, for `alembic revision --autogenerate` (None: none)."""
    from alembic import context

    with engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


def migrate(app_dir: Path) -> int:
    """Bring the database to the newest migration of the app's migrations/ folder (Alembic)."""
    from alembic import command
    from alembic.config import Config

    if not enabled():
        print("migrate: DATABASE_URL is empty: no database to migrate", flush=True)
        return 0
    folder = app_dir / "migrations"
    if not (folder / "env.py").exists():
        print(f"migrate: the app has no migrations ({folder}/env.py): nothing to do", flush=True)
        return 0
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    config = Config()
    config.set_main_option("script_location", str(folder))
    # A session of its own for the lock, beside the one migrations/env.py takes from engine().
    with create_engine(url(), poolclass=NullPool).connect() as lock:
        # Pods starting together (Kubernetes' init container) take turns: the first migrates, the
        # others then find nothing to do. PostgreSQL's advisory lock, held by this session.
        if lock.dialect.name == "postgresql":
            lock.execute(text("SELECT pg_advisory_lock(hashtext('stackctl migrate'))"))
        command.upgrade(config, "head")
    print("migrate: the database is at the newest migration", flush=True)
    return 0
