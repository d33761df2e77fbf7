#!/bin/sh
# Point APP_SOCKET, the path nginx connects to, at this container's own socket
# (APP_LISTEN_SOCKET). Run by each server once it listens (uwsgi.ini hook-master-start,
# gunicorn.conf.py when_ready). The swap is a rename(2), so a connection never finds the path
# missing, even while a new container takes over from an old one (scripts/rollout): the old one
# keeps its own socket, finishes what it accepted, and removes only its own file on exit.
set -eu
link=${APP_SOCKET:?}
# Named as app/docker-entrypoint.sh names it (also when run by `docker exec`, which does not see
# the entrypoint's exports: scripts/rollout gives the socket back to an old container this way).
target=$(basename "${APP_LISTEN_SOCKET:-app-${HOSTNAME:?}.sock}")
ln -sfn "$target" "$link.$$.tmp"
mv -Tf "$link.$$.tmp" "$link"
echo "publish-socket: $link -> $target"
