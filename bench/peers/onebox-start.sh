#!/bin/sh
# tiangolo/uwsgi-nginx-flask starts uWSGI and nginx under supervisord (docker-images/start.sh,
# supervisord-debian.conf); a shell does the same here. supervisord would also relay every log
# line through one more Python process, so this peer is, if anything, cheaper than the original.
set -eu
uwsgi --ini /bench/peers/onebox-uwsgi.ini &
exec nginx -c /bench/peers/onebox-nginx.conf
