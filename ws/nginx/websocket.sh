#!/bin/sh
# Sourced by nginx's entrypoint (nginx/docker-entrypoint.sh) before it renders the templates;
# mounted by ws/compose.yaml. What websocket-http.conf.template needs, from the settings.

# The sockets the ws service has room for, which nginx lets be open at once.
WEBSOCKET_SOCKETS=$((${WEBSOCKET_WORKERS:?ws/compose.yaml sets it} * ${WEBSOCKET_THREADS:?ws/compose.yaml sets it}))

# WEBSOCKET_ORIGINS as the lines of a map: 1 for each origin listed; * lets any origin in.
WEBSOCKET_ORIGINS_MAP="default 0;"
for origin in $(printf '%s' "${WEBSOCKET_ORIGINS:-}" | tr ',' ' '); do
	case "$origin" in
	"*") WEBSOCKET_ORIGINS_MAP="default 1;" ;;
	*) WEBSOCKET_ORIGINS_MAP="$WEBSOCKET_ORIGINS_MAP $origin 1;" ;;
	esac
done
export WEBSOCKET_SOCKETS WEBSOCKET_ORIGINS_MAP
