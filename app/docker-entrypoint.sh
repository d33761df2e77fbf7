#!/bin/sh
# Start the WSGI server named by APP_SERVER (uwsgi or gunicorn) as PID 1, so it gets the stop
# signal itself. Any other command is run as given: docker compose run app python -m ...
set -eu

if [ "$#" -eq 0 ]; then
	case "${APP_SERVER:-}" in
	uwsgi) set -- uwsgi --ini /etc/uwsgi/uwsgi.ini ;;
	gunicorn) set -- gunicorn --config /etc/gunicorn/gunicorn.conf.py ;;
	*)
		echo "docker-entrypoint: APP_SERVER must be 'uwsgi' or 'gunicorn', not '${APP_SERVER:-}'" >&2
		exit 64
		;;
	esac
fi

exec "$@"
