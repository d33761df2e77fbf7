#!/bin/sh
# Render /etc/nginx/templates/*.template into /tmp/nginx/conf.d, one file each, then exec nginx
# as PID 1. Only ${UPPER_CASE} names are substituted, and each must be set: a missing variable
# stops the container with its name instead of leaving an empty directive, and nginx's own
# $variables pass through untouched. An optional piece that is off (prefix.conf without
# APP_PREFIX, https*.conf without HTTPS) is an empty file: every include names its file.
#
# TLS=off: plain HTTP. TLS=on: HTTPS with the certificate in TLS_DIR (compose.tls.yaml).
# TLS=auto: plain HTTP until a certificate appears in TLS_DIR (another container delivers it),
# HTTPS from then on.
#
# What an optional feature's overlay adds, it mounts (nginx knows none of them by name):
#   /etc/nginx/templates/http.d/*.template     rendered into http.d/, included at the http level
#   /etc/nginx/templates/server.d/*.template   rendered into server.d/, included in every server
#   /docker-entrypoint.d/*.sh                  sourced before the first render: may export
#                                              what its templates need, call configure later
#                                              (render again) and start what must run beside
#                                              nginx (backgrounded)
set -eu

templates=/etc/nginx/templates
out=/tmp/nginx/conf.d

# render TEMPLATE DIRECTORY: into DIRECTORY, every ${NAME} in it required to be set.
render() {
	# The ${NAME}s are literal here: what envsubst may replace, and no other.
	# shellcheck disable=SC2016
	names=$(grep -o '\${[A-Z][A-Z0-9_]*}' "$1" | sort -u | tr -d '${}')
	for name in $names; do
		if ! printenv "$name" >/dev/null; then
			echo "docker-entrypoint: $1 needs $name, which is not set" >&2
			exit 64
		fi
	done
	# One ${NAME} per word of $names (split on purpose); the output is another file.
	# shellcheck disable=SC2016,SC2086,SC2094
	envsubst "$(printf '${%s} ' $names)" <"$1" >"$2/$(basename "$1" .template)"
}

# configure: render every template for the current settings and certificate.
configure() {
	# nginx waits a little longer than the app's own request timeout, so a stuck request is cut
	# by the app server (which replaces the worker), not left to race nginx's timeout.
	UPSTREAM_TIMEOUT="$((${APP_TIMEOUT:?docker-entrypoint: APP_TIMEOUT is not set} + 5))s"
	export UPSTREAM_TIMEOUT
	# TRUSTED_PROXIES (comma-separated addresses or CIDRs) as realip and geo lines.
	TRUSTED_PROXIES_REAL_IP=
	TRUSTED_PROXIES_GEO=
	for proxy in $(printf '%s' "${TRUSTED_PROXIES:-}" | tr ',' ' '); do
		TRUSTED_PROXIES_REAL_IP="${TRUSTED_PROXIES_REAL_IP}set_real_ip_from $proxy; "
		TRUSTED_PROXIES_GEO="${TRUSTED_PROXIES_GEO}$proxy 1; "
	done
	# Limits that are off still need a well-formed value where nginx parses one; their empty
	# key (templates/http.conf.template) is what turns them off.
	RATE_LIMIT_RATE=${RATE_LIMIT:?docker-entrypoint: RATE_LIMIT is not set}
	[ "$RATE_LIMIT" != off ] || RATE_LIMIT_RATE=1r/s
	CONN_LIMIT_COUNT=${CONN_LIMIT:?docker-entrypoint: CONN_LIMIT is not set}
	[ "$CONN_LIMIT" != off ] || CONN_LIMIT_COUNT=1
	# SERVER_NAMES as the lines of a hostnames map (templates/http.conf.template): 1 for each name
	# served; without names, every one is.
	SERVER_NAMES_MAP="default 1;"
	if [ -n "$(printf '%s' "${SERVER_NAMES:-}" | tr -d ', ')" ]; then
		SERVER_NAMES_MAP="default 0; "
		for name in $(printf '%s' "$SERVER_NAMES" | tr ',A-Z' ' a-z'); do
			SERVER_NAMES_MAP="${SERVER_NAMES_MAP}$name 1; "
		done
	fi
	export TRUSTED_PROXIES_REAL_IP TRUSTED_PROXIES_GEO RATE_LIMIT_RATE CONN_LIMIT_COUNT SERVER_NAMES_MAP
	mkdir -p "$out/http.d" "$out/server.d" /tmp/nginx/client_body /tmp/nginx/proxy /tmp/nginx/uwsgi
	# The app's static files: the image's copy, or with the app's source mounted at /srv/app
	# (compose.dev.yaml) the live folder, at the same place in it (/srv/static.source, written
	# by the build when it copied them).
	static=/srv/static
	if [ -d /srv/app ] && [ -s /srv/static.source ]; then
		static=/srv/app/$(cat /srv/static.source)
	fi
	ln -sfn "$static" /tmp/nginx/static
	https=
	case "${TLS:-off}" in
	on)
		https=yes
		for file in "$TLS_DIR/tls.crt" "$TLS_DIR/tls.key"; do
			if [ ! -f "$file" ] || [ ! -r "$file" ]; then
				echo "docker-entrypoint: TLS=on needs a readable $file (make certs, or TLS_CERT/TLS_KEY; nginx runs as UID $(id -u))" >&2
				exit 64
			fi
		done
		;;
	auto)
		if [ -r "$TLS_DIR/tls.crt" ] && [ -r "$TLS_DIR/tls.key" ]; then
			https=yes
		fi
		;;
	off) ;;
	*)
		echo "docker-entrypoint: TLS='$TLS' must be off, on or auto" >&2
		exit 64
		;;
	esac
	# Redirects (and HTTP/3's forwarded host) name the port clients use, which is the published
	# one, not nginx's 8443.
	HTTPS_PORT_SUFFIX=
	if [ -n "$https" ] && [ "${HTTPS_PORT:-443}" != 443 ]; then
		HTTPS_PORT_SUFFIX=":$HTTPS_PORT"
	fi
	export HTTPS_PORT_SUFFIX
	# HTTP/3's advertisement, a header value with its own quotes: the same published port, for
	# a day.
	ALT_SVC=
	# shellcheck disable=SC2089,SC2090
	[ -z "$https" ] || ALT_SVC="h3=\":${HTTPS_PORT:-443}\"; ma=86400"
	# shellcheck disable=SC2090
	export ALT_SVC
	for template in "$templates"/*.template; do
		case "$(basename "$template")" in
		prefix.conf.template) on=${APP_PREFIX:+yes} ;;
		https*.conf.template) on=$https ;;
		*) on=yes ;;
		esac
		if [ -n "$on" ]; then
			render "$template" "$out"
		else
			: >"$out/$(basename "$template" .template)"
		fi
	done
	for level in http.d server.d; do
		rm -f "$out/$level"/*.conf
		for template in "$templates/$level"/*.template; do
			[ ! -e "$template" ] || render "$template" "$out/$level"
		done
	done
	# One template per backend, named after it: the one APP_SERVER names must exist.
	if [ ! -f "$templates/${APP_SERVER:-}.conf.template" ]; then
		echo "docker-entrypoint: no backend for APP_SERVER='${APP_SERVER:-}' (nginx/templates/<server>.conf.template)" >&2
		exit 64
	fi
	echo "nginx: backend=$APP_SERVER prefix=${APP_PREFIX:-/} socket=$APP_SOCKET static=$static max_body=$MAX_BODY_SIZE" \
		"request_head=${REQUEST_HEAD_BUFFERS}x$REQUEST_HEAD_BUFFER headers_max=$REQUEST_HEADERS_MAX trusted_proxies=${TRUSTED_PROXIES:-none} server_names=${SERVER_NAMES:-any}" \
		"rate_limit=$RATE_LIMIT burst=${RATE_LIMIT_BURST:-} conn_limit=$CONN_LIMIT" \
		"upstream_timeout=$UPSTREAM_TIMEOUT client_timeout=${CLIENT_TIMEOUT:-} static_max_age=${STATIC_MAX_AGE:-} log_format=${LOG_FORMAT:-}" \
		"tls=${TLS:-off}${https:+ https_port=${HTTPS_PORT:-443}} snippets=$(cd "$out" && find http.d server.d -name "*.conf" | sort | paste -sd, -)"
}

if [ "${1:-}" = nginx ]; then
	for hook in /docker-entrypoint.d/*.sh; do
		# shellcheck disable=SC1090  # mounted by an optional feature's overlay
		[ ! -e "$hook" ] || . "$hook"
	done
	configure
fi

exec "$@"
