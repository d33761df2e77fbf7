#!/bin/sh
# Start the WSGI server named by APP_SERVER (uwsgi or gunicorn) as PID 1, so it gets the stop
# signal itself. Any other command is run as given: docker compose run app python -m ...
set -eu

# APP_WORKERS=auto: 2 x CPUs + 1 worker processes (each serves one request at a time with the
# default APP_THREADS=1), at most 17 so that the default APP_MEMORY_LIMIT holds them on a big
# host. app/check_config.py computes the same number.
if [ "${APP_WORKERS:-auto}" = auto ]; then
	APP_WORKERS=$((2 * $(nproc) + 1))
	[ "$APP_WORKERS" -le 17 ] || APP_WORKERS=17
	export APP_WORKERS
fi

if [ "$#" -eq 0 ]; then
	# The server listens on a socket of this container's own, named after its hostname (as
	# app/healthcheck.py names it), and publishes it at APP_SOCKET once it listens
	# (app/publish-socket.sh): two containers can then serve side by side while one replaces the
	# other (make reload).
	APP_LISTEN_SOCKET="${APP_SOCKET%/*}/app-$(uname -n).sock"
	export APP_LISTEN_SOCKET
	# uWSGI staggers recycling by worker number (max-requests-delta); spread it over the jitter.
	# (Here, not above: check-config runs through this script too, with the values unchecked.)
	APP_MAX_REQUESTS_DELTA=$((${APP_MAX_REQUESTS_JITTER:-0} / APP_WORKERS))
	# nginx is the one gate for the request head (nginx/templates/http.conf.template); both
	# servers must take whatever it lets through: the client's headers (REQUEST_HEADERS_MAX at
	# most), and what nginx adds itself (uwsgi_params, X-Forwarded-*): fewer than 64.
	APP_HEADER_FIELDS=$((${REQUEST_HEADERS_MAX:?} + 64))
	export APP_MAX_REQUESTS_DELTA APP_HEADER_FIELDS
	case "${APP_SERVER:-}" in
	# --listen here, not in uwsgi.ini: uWSGI reads `listen` before expanding $(APP_BACKLOG).
	uwsgi)
		set -- uwsgi --ini /etc/uwsgi/uwsgi.ini --listen "${APP_BACKLOG:-1024}"
		[ "${APP_ACCESS_LOG:-off}" = on ] || set -- "$@" --disable-logging
		# Development only (compose.dev.yaml): reload when a Python module changes.
		[ "${APP_RELOAD:-off}" = off ] || set -- "$@" --py-autoreload 1
		if [ -n "${APP_PREFIX:-}" ]; then
			set -- "$@" --mount "$APP_PREFIX=$WSGI_APP" --manage-script-name
		else
			set -- "$@" --module "$WSGI_APP"
		fi
		;;
	gunicorn) set -- gunicorn --config /etc/gunicorn/gunicorn.conf.py ;;
	*)
		echo "docker-entrypoint: APP_SERVER must be 'uwsgi' or 'gunicorn', not '${APP_SERVER:-}'" >&2
		exit 64
		;;
	esac
	echo "app: $APP_SERVER serving $WSGI_APP at ${APP_PREFIX:-/} on $APP_LISTEN_SOCKET: workers=$APP_WORKERS threads=${APP_THREADS:-}" \
		"backlog=${APP_BACKLOG:-} timeout=${APP_TIMEOUT:-}s graceful=${APP_GRACEFUL_TIMEOUT:-}s" \
		"keepalive=${APP_KEEPALIVE:-}s max_requests=${APP_MAX_REQUESTS:-0}+${APP_MAX_REQUESTS_JITTER:-0}" \
		"max_body=${MAX_BODY_SIZE:-} header_fields=$APP_HEADER_FIELDS access_log=${APP_ACCESS_LOG:-off}" \
		"log_format=${LOG_FORMAT:-json} reload=${APP_RELOAD:-off}"
fi

exec "$@"
