"""Gunicorn for the Flask app, speaking HTTP to nginx (proxy_pass) on a unix socket.

Values come from the environment (compose.yaml sets them, .env.example documents them), and
what is computed from them from runtime/stackctl.py, as uWSGI gets it.
Settings: https://docs.gunicorn.org/en/stable/settings.html
"""

import atexit
import faulthandler
import os
import signal
import sys
import threading
from types import FrameType

import stack_websocket
import stackctl

# --- application --------------------------------------------------------------------------
# app/wsgi.py's app, as the stack serves it (runtime/stack_wsgi.py).
wsgi_app = "stack_wsgi:app"
chdir = "/srv/app"
# Serving under APP_PREFIX: with SCRIPT_NAME in its environment, Gunicorn moves the prefix from
# PATH_INFO to SCRIPT_NAME (nginx passes the path intact), so url_for() builds links under it.
if os.environ.get("APP_PREFIX"):
    raw_env = [f"SCRIPT_NAME={os.environ['APP_PREFIX']}"]

# --- socket -------------------------------------------------------------------------------
# Shared with nginx through a named volume. umask 0o117 makes the socket 0660: the app user and
# its group (which nginx's user joins) can connect, nobody else. A stale socket file left by a
# killed server is removed at bind. It is this container's own; post_worker_init, below,
# publishes it at APP_SOCKET, where nginx connects.
bind = [f"unix:{stackctl.own_socket()}"]
umask = 0o117
# Connections queued on the socket while every worker is busy; the kernel caps it at the
# container's net.core.somaxconn (compose.yaml sets both from APP_BACKLOG).
backlog = int(os.environ["APP_BACKLOG"])

# --- request head -------------------------------------------------------------------------
# nginx is the one gate for the request head; Gunicorn must take whatever it passes on, or a
# request nginx accepted gets Gunicorn's own error page. nginx's buffer (REQUEST_HEAD_BUFFER)
# holds a request line or a header line with its CRLF; the fields are nginx's
# REQUEST_HEADERS_MAX plus the headers nginx adds. Gunicorn's defaults (4094, 100, 8190)
# answered a 7 KiB URL with its own 414.
# Gunicorn counts a header line with its CRLF, as nginx does, and the request line without it.
# The longest header nginx sends is the client's Host as X-Forwarded-Host, 12 bytes longer.
limit_request_line = int(os.environ["REQUEST_HEAD_BUFFER"]) - 2
limit_request_field_size = int(os.environ["REQUEST_HEAD_BUFFER"]) + len("X-Forwarded-Host") - len("Host")
limit_request_fields = stackctl.header_fields()

# --- workers ------------------------------------------------------------------------------
# The master imports the app once and forks the workers from it, as uWSGI does: a worker (every
# APP_MAX_REQUESTS, below) starts without importing anything, and the workers share the app's
# pages (make bench). An app that opens connections at import shares them with every worker on
# both servers alike: open them per worker, or lazily. Not in development: the reloader needs
# each worker to import the code afresh.
preload_app = os.environ.get("APP_RELOAD") != "on"
workers = stackctl.workers(os.environ["APP_WORKERS"])
threads = int(os.environ["APP_THREADS"])
# One request per worker (the default, APP_THREADS=1): sync, the worker nginx's buffering was
# made for. Its heartbeat stops while it handles a request, so `timeout` below cuts a stuck
# request and replaces the worker. With threads, gthread serves that many at once and keeps
# nginx's idle connections open, but its heartbeat comes from the worker's main loop, not the
# request: a stuck request then runs on until nginx's own timeout (docs/reliability.md).
worker_class = "sync" if threads == 1 else "gthread"
# Connections a gthread worker holds at once, idle keep-alive ones included; Gunicorn's own
# default unless a service sets it (uWSGI's threads accept only while free, so need no such cap).
if "APP_WORKER_CONNECTIONS" in os.environ:
    worker_connections = int(os.environ["APP_WORKER_CONNECTIONS"])
# A request running longer than this gets its worker killed and replaced (uWSGI: harakiri).
timeout = int(os.environ["APP_TIMEOUT"])


def post_worker_init(worker: object) -> None:
    """A worker has imported the app: point APP_SOCKET at this server (once per container).

    Not earlier (when_ready): the master listens before any worker has tried to import the app,
    and a broken new version would take traffic during make reload.
    """
    stackctl.publish()
    # On its SIGTERM (a stop, a reload) the worker closes its WebSockets with 1001 as well, so
    # that their handlers end within graceful_timeout (runtime/stack_websocket.py).
    stop = signal.getsignal(signal.SIGTERM)
    if callable(stop):

        def going_away(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=stack_websocket.going_away, name="websocket-stop").start()
            stop(signum, frame)

        signal.signal(signal.SIGTERM, going_away)


def worker_abort(worker: object) -> None:
    """Runs in a worker the master aborts (SIGABRT) for a request running past `timeout`."""
    # Where the request was stuck, for whoever reads the log after the 502.
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    # Gunicorn would otherwise answer the request with its own 500 page as the worker exits.
    # Exiting at once makes nginx answer 502 with the stack's page, as uWSGI's harakiri does.
    os._exit(1)


def worker_exit(server: object, worker: object) -> None:
    """A worker's last act, once it has stopped serving: its exit handlers (atexit: a tracer's last
    spans, logging's flush), then the exit itself, with the status it was leaving with. Not
    Python's teardown of every module and object the app made, which is all that would follow:
    under arm64 emulation, five workers doing it at once held a stop past graceful_timeout."""
    leaving = sys.exc_info()[1]
    code = leaving.code if isinstance(leaving, SystemExit) else 1 if leaving else 0
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


# Recycle a worker after max_requests plus up to the jitter (random per worker, so they do not
# all restart at once), to bound slow leaks; it finishes its request first. 0 turns it off.
max_requests = int(os.environ["APP_MAX_REQUESTS"])
max_requests_jitter = int(os.environ["APP_MAX_REQUESTS_JITTER"])
# How long workers get to finish in-flight requests on SIGTERM (docker stop) or a reload; below
# compose's stop_grace_period so Gunicorn, not Docker's SIGKILL, decides.
graceful_timeout = int(os.environ["APP_GRACEFUL_TIMEOUT"])
# nginx keeps idle upstream connections for keepalive_timeout (nginx/templates); Gunicorn must
# hold them longer, or nginx could send a request down a connection closed under it. gthread
# only: sync answers every request with "Connection: close".
keepalive = int(os.environ["APP_KEEPALIVE"])
# The worker heartbeat file: on tmpfs, never on the container's disk.
worker_tmp_dir = "/dev/shm"

# Development only (compose.dev.yaml): restart workers when a Python file changes.
reload = os.environ.get("APP_RELOAD") == "on"

# --- control ------------------------------------------------------------------------------
# Gunicorn 25+ control socket for `gunicornc` (worker status, graceful reload). Its default is
# under $HOME, which the app user does not have; keep it private to the container (0600).
control_socket = "/tmp/gunicorn.ctl"

# --- proxy --------------------------------------------------------------------------------
# nginx is the only peer (over the unix socket) and overwrites X-Forwarded-*; Werkzeug's
# ProxyFix in the app applies them, so Gunicorn need not second-guess them.
forwarded_allow_ips = "*"
# From a trusted peer, Gunicorn would also take SCRIPT_NAME and PATH_INFO from request headers
# of those names (its default forwarder_headers). nginx sends neither, and drops client headers
# with underscores, but a client must never move the app's mount point: trust none.
forwarder_headers = ""
# The scheme is nginx's to decide (X-Forwarded-Proto, applied by ProxyFix); Gunicorn's own reading
# of X-Forwarded-Ssl and X-Forwarded-Protocol answered a client's contradicting header with its
# own 400 page. nginx drops those headers too (nginx/templates/gunicorn.conf.template).
secure_scheme_headers: dict[str, str] = {}

# --- logging ------------------------------------------------------------------------------
# Gunicorn's own request lines only with APP_ACCESS_LOG=on: nginx already logs every request,
# with the same ID.
accesslog = "-" if os.environ.get("APP_ACCESS_LOG") == "on" else None
errorlog = "-"
access_log_format = '[gunicorn] %({x-forwarded-for}i)s "%(r)s" %(s)s %(B)sB %(M)sms %(p)s id=%({x-request-id}i)s'
