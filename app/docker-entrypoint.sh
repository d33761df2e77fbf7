#!/bin/sh
# Start the WSGI server named by APP_SERVER (uwsgi or gunicorn) as PID 1, so it gets the stop
# signal itself. Any other command is run as given: docker compose run app python -m ...
set -eu

# APP_WORKERS=auto: one worker process per CPU this container may run on.
if [ "${APP_WORKERS:-auto}" = auto ]; then
	APP_WORKERS=$(nproc)
	export APP_WORKERS
fi

if [ "$#" -eq 0 ]; then
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
	echo "app: $APP_SERVER serving $WSGI_APP at ${APP_PREFIX:-/} on $APP_SOCKET: workers=$APP_WORKERS threads=${APP_THREADS:-}" \
		"backlog=${APP_BACKLOG:-} timeout=${APP_TIMEOUT:-}s graceful=${APP_GRACEFUL_TIMEOUT:-}s" \
		"keepalive=${APP_KEEPALIVE:-}s max_body=${MAX_BODY_SIZE:-} access_log=${APP_ACCESS_LOG:-off}" \
		"log_format=${LOG_FORMAT:-json} reload=${APP_RELOAD:-off}"
fi

exec "$@"
