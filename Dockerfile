# The stack's images, as targets of one build (compose.yaml picks them):
#   app    the Flask app in app/, served by uWSGI or Gunicorn (APP_SERVER picks at start)
#   nginx  in front: the only published port, the app's static files, the socket to the app
#   bench  wrk, for make bench only
# Build context: the repository root. Nothing here names the app's package: app/wsgi.py does.
# APP_DIR: the folder the app comes from: app/, or the stack's tests' own app (tests/app).

ARG BASE_IMAGE=debian:trixie-slim
# Fixed IDs. The socket is app:app 0660 and nginx's user joins the app group to reach it.
ARG APP_UID=10001
ARG APP_GID=10001
ARG NGINX_UID=10002
ARG NGINX_GID=10002
ARG APP_DIR=app

# --- base: what both images share ---------------------------------------------------------
FROM ${BASE_IMAGE} AS base
# The socket's directory, owned by the app: the volume mounted on it starts that way (Docker
# gives an empty volume its mount point's owner and mode), whichever image mounts it first.
ARG APP_UID
ARG APP_GID
ENV APP_SOCKET=/run/app/app.sock
# nginx's status sockets, the same way: its stub_status listener, and whatever a metrics
# exporter in nginx's group puts beside it (metrics/compose.yaml).
ARG NGINX_UID
ARG NGINX_GID
ENV NGINX_STATUS_DIR=/run/nginx-status
# Where nginx finds its certificate (TLS_DIR/tls.crt and tls.key): compose.tls.yaml mounts one of
# yours there, an optional feature's container may deliver one (TLS=auto).
ENV TLS_DIR=/etc/nginx/tls
RUN set -eux; \
	groupadd --gid "${APP_GID}" app; \
	groupadd --gid "${NGINX_GID}" nginx; \
	mkdir -p "${APP_SOCKET%/*}" "${NGINX_STATUS_DIR}" "${TLS_DIR}"; \
	chown "${APP_UID}:${APP_GID}" "${APP_SOCKET%/*}"; \
	chmod 0750 "${APP_SOCKET%/*}"; \
	chown "${NGINX_UID}:${NGINX_GID}" "${NGINX_STATUS_DIR}"; \
	chmod 0770 "${NGINX_STATUS_DIR}"

# --- python: a virtualenv with the app's pinned, hash-checked requirements ----------------
FROM base AS python
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		ca-certificates \
		python3 \
		python3-venv \
	; \
	rm -rf /var/lib/apt/lists/*
# Extra CA certificates for a TLS-intercepting proxy in front of PyPI (host/build-ca/README.md).
# They live in this stage only: the images get the virtualenv, not the certificates.
COPY host/build-ca/ /usr/local/share/ca-certificates/build-ca/
RUN set -eux; update-ca-certificates
COPY app/requirements.txt /tmp/requirements.txt
RUN set -eux; \
	python3 -m venv /opt/venv; \
	PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/venv/bin/pip install \
		--no-cache-dir --no-compile --require-hashes --only-binary=:all: \
		-r /tmp/requirements.txt; \
	/opt/venv/bin/pip uninstall -y pip; \
	/opt/venv/bin/python -m compileall -q /opt/venv

# --- static: the app's static files, wherever the app keeps them, for nginx ---------------
FROM python AS static
ARG APP_DIR
COPY runtime/stack*.py /opt/stack/
COPY ${APP_DIR}/ /srv/app/
WORKDIR /srv/app
RUN set -eux; PYTHONPATH=/opt/stack:/srv/app /opt/venv/bin/python /opt/stack/stackctl.py static /srv/static

# --- app ----------------------------------------------------------------------------------
FROM base AS app
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		python3 \
	; \
	rm -rf /var/lib/apt/lists/*
ARG APP_UID
RUN set -eux; \
	useradd --no-log-init --uid "${APP_UID}" --gid app --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app
COPY --from=python /opt/venv /opt/venv
COPY uwsgi/uwsgi.ini gunicorn/gunicorn.conf.py /etc/stack/
COPY runtime/stack*.py /opt/stack/
ARG APP_DIR
COPY ${APP_DIR}/ /srv/app/
RUN set -eux; \
	ln -s /opt/stack/stackctl.py /usr/local/bin/stackctl; \
	/opt/venv/bin/python -m compileall -q /opt/stack /srv/app
# PROMETHEUS_MULTIPROC_DIR: where each worker writes its metrics (runtime/stack_metrics.py), on
# the /tmp tmpfs compose.yaml (and the Pod's emptyDir) gives the app.
ENV PATH=/opt/venv/bin:$PATH \
	PYTHONPATH=/opt/stack:/srv/app \
	PYTHONDONTWRITEBYTECODE=1 \
	PYTHONUNBUFFERED=1 \
	PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
WORKDIR /srv/app
USER app:app
ENTRYPOINT ["stackctl"]
CMD ["serve"]

# --- nginx --------------------------------------------------------------------------------
FROM base AS nginx
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		curl \
		gettext-base \
		nginx \
	; \
	rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/sites-available /etc/nginx/conf.d /var/www/html; \
	ln -sf /dev/stdout /var/log/nginx/access.log; \
	ln -sf /dev/stderr /var/log/nginx/error.log
ARG NGINX_UID
RUN set -eux; \
	useradd --no-log-init --uid "${NGINX_UID}" --gid nginx --groups app --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin nginx
COPY nginx/nginx.conf nginx/headers.conf nginx/served-names.conf nginx/error-pages.conf /etc/nginx/
COPY nginx/errors/ /srv/errors/
COPY nginx/templates/ /etc/nginx/templates/
# Where an optional feature's overlay mounts what nginx should render and run (docker-entrypoint.sh).
RUN set -eux; mkdir -p /etc/nginx/templates/http.d /etc/nginx/templates/server.d /docker-entrypoint.d
COPY nginx/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
COPY nginx/healthcheck.sh /usr/local/bin/healthcheck
COPY --from=static /srv/static/ /srv/static/
COPY --from=static /srv/static.source /srv/static.source
# The user alone, no group: Docker then adds the user's supplementary groups from /etc/group
# (here: app). `USER nginx:nginx` would drop them, and the socket would answer 13: Permission denied.
USER nginx
EXPOSE 8080 8443
# nginx finishes in-flight requests on SIGQUIT; SIGTERM would drop them.
STOPSIGNAL SIGQUIT
ENTRYPOINT ["docker-entrypoint"]
CMD ["nginx", "-g", "daemon off;"]

# --- bench: wrk, the load generator of `make bench` (bench/compose.bench.yaml), run inside the
# stack's own networks: no traffic leaves the project, and no Docker port proxy sits between wrk
# and the servers it measures. Built only by make bench.
FROM ${BASE_IMAGE} AS bench
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		wrk \
	; \
	rm -rf /var/lib/apt/lists/*
COPY bench/wrk/ /bench/
USER nobody
CMD ["sleep", "infinity"]
