#!/bin/sh
# Point APP_SOCKET, the path nginx connects to, at this container's own socket
# (APP_LISTEN_SOCKET). Run by each server once its app is imported (uwsgi.ini hook-master-start,
# gunicorn.conf.py post_worker_init). The swap is a rename(2), so a connection never finds the path
# missing, even while a new container takes over from an old one (scripts/rollout): the old one
# keeps its own socket, finishes what it accepted, and removes only its own file on exit.
set -eu
link=${APP_SOCKET:?}
# Named as app/docker-entrypoint.sh names APP_LISTEN_SOCKET, from the hostname: `docker exec`
# (scripts/rollout gives the socket back to an old container this way) does not see the
# entrypoint's exports.
target=app-$(uname -n).sock
ln -sfn "$target" "$link.$$.tmp"
mv -Tf "$link.$$.tmp" "$link"
echo "publish-socket: $link -> $target"
