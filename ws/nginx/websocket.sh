#!/bin/sh
# Sourced by nginx's entrypoint (nginx/docker-entrypoint.sh) before it renders the templates;
# mounted by ws/compose.yaml. The sockets the ws service has room for, which nginx lets be open
# at once (websocket-upstream.conf.template).
WEBSOCKET_SOCKETS=$((${WEBSOCKET_WORKERS:?ws/compose.yaml sets it} * ${WEBSOCKET_THREADS:?ws/compose.yaml sets it}))
export WEBSOCKET_SOCKETS
