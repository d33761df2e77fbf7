# PostgreSQL of the stack's own (postgres/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+postgres/compose.yaml compose.yaml+compose.tls.yaml+postgres/compose.yaml
POSTGRES_PASSWORD_FILE = postgres/secrets/password
# Where make db-backup writes its dumps.
DB_BACKUP_DIR ?= backups

# The database's password, made once (a link, so two makes at once keep the first): random, in a
# folder only this user may enter, the file readable by the containers' users (Compose mounts
# file secrets as they are).
$(POSTGRES_PASSWORD_FILE):
	@mkdir -p $(@D) && chmod 0700 $(@D)
	@new=$$(mktemp $@.XXXXXX) && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $$new && \
		chmod 0644 $$new && { ln $$new $@ 2>/dev/null || true; } && rm -f $$new
	@echo "postgres: made the database's password, $@ (keep it with your backups)"

secrets: $(POSTGRES_PASSWORD_FILE)

.PHONY: db-backup db-restore db-shell
db-backup: prereqs ## Dump the database (pg_dump, custom format) to DB_BACKUP_DIR/app-DATE.dump, yours alone
	@umask 077 && mkdir -p $(DB_BACKUP_DIR) && file=$(DB_BACKUP_DIR)/app-$$(date -u +%Y%m%dT%H%M%SZ).dump; \
		$(COMPOSE) exec -T db pg_dump --format=custom --dbname=app > $$file.partial && mv $$file.partial $$file && \
		echo "db-backup: $$file"

db-restore: prereqs ## Replace the database's contents with a dump: make db-restore FILE=backups/app-....dump
	@[ -f "$${FILE:-}" ] || { echo "make db-restore: FILE=... must name a dump of make db-backup" >&2; exit 2; }
	$(COMPOSE) exec -T db pg_restore --clean --if-exists --single-transaction --exit-on-error --dbname=app < "$$FILE"

db-shell: prereqs ## psql on the database, as its superuser
	$(COMPOSE) exec db psql --dbname=app
