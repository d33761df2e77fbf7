#!/bin/sh
# Container healthcheck: /healthz through nginx and the socket to the app, so healthy means a
# real request would succeed. Over HTTPS when nginx serves it (plain HTTP then only redirects):
# TLS=on, or TLS=auto once it has rendered the HTTPS server; -k because the certificate names
# the public host, not 127.0.0.1.
set -eu
if [ -s /tmp/nginx/conf.d/https.conf ]; then
	url="https://127.0.0.1:8443${APP_PREFIX:-}/healthz"
else
	url="http://127.0.0.1:8080${APP_PREFIX:-}/healthz"
fi
# The user agent keeps these checks out of the access log (nginx.conf, $loggable).
exec curl --fail --silent --show-error --insecure --output /dev/null --max-time 4 \
	--user-agent stack-healthcheck "$url"
