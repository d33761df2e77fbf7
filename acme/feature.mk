# Automatic certificates (acme/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+acme/compose.yaml compose.yaml+acme/compose.yaml+acme/compose.pebble.yaml

# make acme-gunicorn ACME_DOMAINS=example.com,www.example.com ACME_EMAIL=you@example.com, on a
# host those names point at: ports 80 and 443 on every address, certificates from Let's Encrypt
# (or ACME_DIRECTORY's CA), those names alone served (SERVER_NAMES, unless given), the settings
# written to .env so every later make target keeps them.
.PHONY: acme-uwsgi acme-gunicorn
acme-uwsgi: ## As up-uwsgi, serving ACME_DOMAINS on ports 80 and 443 with certificates from Let's Encrypt
acme-gunicorn: ## As up-gunicorn, serving ACME_DOMAINS on ports 80 and 443 with certificates from Let's Encrypt
acme-uwsgi acme-gunicorn:
	@[ -n "$${ACME_DOMAINS:-}" ] || { echo "make $@: set ACME_DOMAINS (and ACME_EMAIL): acme/README.md" >&2; exit 2; }
	scripts/env-set COMPOSE_FILE=compose.yaml:acme/compose.yaml HTTP_BIND=0.0.0.0 HTTP_PORT=80 HTTPS_PORT=443 \
		"ACME_DOMAINS=$$ACME_DOMAINS" "ACME_EMAIL=$${ACME_EMAIL:-}" $${ACME_DIRECTORY:+"ACME_DIRECTORY=$$ACME_DIRECTORY"} \
		"SERVER_NAMES=$${SERVER_NAMES:-$$ACME_DOMAINS}"
	$(MAKE) up-$(@:acme-%=%)
