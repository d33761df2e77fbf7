"""Gunicorn for the Flask app, speaking HTTP to nginx (proxy_pass) on a unix socket.

Values come from the environment: compose.yaml sets them, .env.example documents them.
Settings: https://docs.gunicorn.org/en/stable/settings.html
"""

import os

# --- application --------------------------------------------------------------------------
# The one place the WSGI entry point is named is WSGI_APP (app/Dockerfile); uWSGI reads it too.
wsgi_app = os.environ["WSGI_APP"]
chdir = "/srv/app"
# Serving under APP_PREFIX: with SCRIPT_NAME in its environment, Gunicorn moves the prefix from
# PATH_INFO to SCRIPT_NAME (nginx passes the path intact), so url_for() builds links under it.
if os.environ.get("APP_PREFIX"):
    raw_env = [f"SCRIPT_NAME={os.environ['APP_PREFIX']}"]

# --- socket -------------------------------------------------------------------------------
# Shared with nginx through a named volume. umask 0o117 makes the socket 0660: the app user and
# its group (which nginx's user joins) can connect, nobody else. A stale socket file left by a
# killed server is removed at bind.
bind = [f"unix:{os.environ['APP_SOCKET']}"]
umask = 0o117
# Connections queued on the socket while every worker is busy; the kernel caps it at the
# container's net.core.somaxconn (compose.yaml sets both from APP_BACKLOG).
backlog = int(os.environ["APP_BACKLOG"])
# Benchmarks only (bench/compose.bench.yaml): also serve HTTP on TCP, so the cost of the nginx
# hop can be measured. Unset in the stack itself.
if os.environ.get("APP_DIRECT_HTTP"):
    bind.append(os.environ["APP_DIRECT_HTTP"])

# --- workers ------------------------------------------------------------------------------
# gthread: each worker serves `threads` requests at once and keeps idle keep-alive connections
# from nginx without tying up a thread.
worker_class = "gthread"
workers = int(os.environ["APP_WORKERS"])
threads = int(os.environ["APP_THREADS"])
# A request running longer than this gets its worker killed and replaced (uWSGI: harakiri).
timeout = int(os.environ["APP_TIMEOUT"])
# How long workers get to finish in-flight requests on SIGTERM (docker stop) or a reload; below
# compose's stop_grace_period so Gunicorn, not Docker's SIGKILL, decides.
graceful_timeout = int(os.environ["APP_GRACEFUL_TIMEOUT"])
# nginx keeps idle upstream connections for keepalive_timeout (nginx/templates); Gunicorn must
# hold them longer, or nginx could send a request down a connection closed under it.
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

# --- logging ------------------------------------------------------------------------------
# Gunicorn's own request lines only with APP_ACCESS_LOG=on: nginx already logs every request,
# with the same ID.
accesslog = "-" if os.environ.get("APP_ACCESS_LOG") == "on" else None
errorlog = "-"
access_log_format = '[gunicorn] %({x-forwarded-for}i)s "%(r)s" %(s)s %(B)sB %(M)sms %(p)s id=%({x-request-id}i)s'
