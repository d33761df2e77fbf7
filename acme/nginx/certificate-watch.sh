#!/bin/sh
# Sourced by nginx's entrypoint (nginx/docker-entrypoint.sh) before it starts nginx; mounted by
# acme/compose.yaml. TLS=auto: every few seconds, whether the certificate generation the acme
# service last handed over (acme/acme: TLS_DIR/current) changed; if so, render the config again
# (the first certificate turns HTTPS on) and reload nginx gracefully: new connections get the new
# certificate, old workers finish what they have. A pair nginx refuses is logged, the config it
# runs is put back on disk (the healthcheck reads it), and the last certificate serves on.
# Nothing else can signal nginx: no container mounts the Docker socket.
: "${out:?sourced by nginx/docker-entrypoint.sh, which sets it}"

# The certificate generation the acme service last handed over, or nothing.
acme_generation() {
	readlink "$TLS_DIR/current" 2>/dev/null || true
}

acme_watch_certificate() {
	seen=$(acme_generation)
	while sleep 5; do
		now=$(acme_generation)
		[ "$now" != "$seen" ] || continue
		seen=$now
		rm -rf "$out.running"
		cp -a "$out" "$out.running"
		if problem=$( (configure >/dev/null && nginx -t -q) 2>&1); then
			nginx -s reload
			echo "nginx: new certificate $TLS_DIR/$now: reloaded, serving HTTPS with it on ${HTTPS_PORT:-443}"
		else
			rm -rf "$out"
			mv "$out.running" "$out"
			echo "nginx: ERROR: new certificate $TLS_DIR/$now refused, serving on as before: $problem" >&2
		fi
	done
}

[ -n "$(acme_generation)" ] || echo "nginx: no certificate yet; plain HTTP until the acme service obtains one"
# Outlives the entrypoint: nginx, exec'd next as PID 1, becomes its parent.
acme_watch_certificate &
