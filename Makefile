# Thin wrappers around docker compose; `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory

# Compose reads COMPOSE_FILE (environment or .env) itself: compose.yaml:compose.tls.yaml for HTTPS.
DOCKER_COMPOSE ?= docker compose
COMPOSE = $(DOCKER_COMPOSE)
# Development mode's files (make dev-*); add compose.tls.yaml before compose.dev.yaml for HTTPS.
DEV_COMPOSE_FILE ?= compose.yaml:compose.dev.yaml
PYTHON ?= python3
VENV ?= .venv
BENCH_VENV ?= .venv-bench
CHECKOV_VENV ?= .venv-checkov
# Extra bench/run.py arguments, e.g. make bench BENCH_ARGS='--rounds 1 --configs uwsgi onebox'
BENCH_ARGS ?=
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k echo -x'
PYTEST_ARGS ?=
# Processes running the tests (pytest-xdist): most of an end-to-end test is waiting on the stack,
# and the tests sharing a module's stack stay on one (tests/e2e/fixtures.py schedules them).
# Fastest on 2 CPUs: docs/testing.md.
TEST_WORKERS ?= 6
PYTEST = $(VENV)/bin/pytest
PYTEST_PARALLEL = $(PYTEST) --numprocesses $(TEST_WORKERS) --dist loadscope

# The base image every build uses: BASE_IMAGE, or a local debootstrap equivalent of the default
# when no registry can be reached, and the host's CAs for a TLS-intercepting proxy (host/).
# Prefix for any command that builds; the images are labelled with the commit (compose.yaml).
# BASE_PLATFORM: another platform's base (test-arm64).
with_revision = IMAGE_REVISION=$${IMAGE_REVISION:-$$(git rev-parse HEAD 2>/dev/null)}
with_base = base=$$(host/base-image $(BASE_PLATFORM)) && host/sync-build-ca && BASE_IMAGE=$$base $(with_revision)

# The optional features' targets and settings: each folder that has one is a feature, removed by
# deleting its folder (docs/fork.md).
include $(wildcard */feature.mk)

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: up-uwsgi up-gunicorn
up-uwsgi: APP_SERVER = uwsgi
up-gunicorn: APP_SERVER = gunicorn
up-uwsgi: ## Build and start the stack on uWSGI; returns once it serves
up-gunicorn: ## Build and start the stack on Gunicorn; returns once it serves
# The one-shot services first (the settings check, migrations), each run to its end: Compose
# replaces every changed container before it starts any, so one failing inside `up` would leave
# no app running.
up-uwsgi up-gunicorn: prereqs
	$(with_base) $(COMPOSE) build
	@for service in $$(scripts/one-shots $(COMPOSE)); do \
		APP_SERVER=$(APP_SERVER) $(COMPOSE) run --rm --no-TTY $$service >&2 \
			|| { echo "make $@: $$service failed (its lines above); nothing was replaced" >&2; exit 1; }; \
	done
	APP_SERVER=$(APP_SERVER) $(COMPOSE) up --detach --wait --remove-orphans \
		|| { scripts/explain-up-failure $(COMPOSE); exit 1; }
	@echo "Serving with $(APP_SERVER) on http://$$($(COMPOSE) port nginx 8080)/"
	@https=$$($(COMPOSE) port nginx 8443 2>/dev/null) || true; case "$$https" in *:0 | "") ;; *) echo "and on https://$$https/" ;; esac

.PHONY: dev-uwsgi dev-gunicorn
dev-uwsgi: APP_SERVER = uwsgi
dev-gunicorn: APP_SERVER = gunicorn
dev-uwsgi: ## Development mode on uWSGI: source mounted, reload on change, debug pages, on 127.0.0.1 only
dev-gunicorn: ## Development mode on Gunicorn: source mounted, reload on change, debug pages, on 127.0.0.1 only
dev-uwsgi dev-gunicorn: prereqs
	$(with_base) APP_SERVER=$(APP_SERVER) HTTP_BIND=127.0.0.1 COMPOSE_FILE=$(DEV_COMPOSE_FILE) $(COMPOSE) \
		up --build --detach --wait --remove-orphans || { COMPOSE_FILE=$(DEV_COMPOSE_FILE) scripts/explain-up-failure $(COMPOSE); exit 1; }
	@echo "Development mode ($(APP_SERVER)) on http://$$($(COMPOSE) port nginx 8080)/: edit app/, reload, see it"

.PHONY: certs
certs: ## Make a development TLS certificate in certs/ (then COMPOSE_FILE=compose.yaml:compose.tls.yaml in .env)
	scripts/make-certs

# The label compose.yaml gives volumes that hold nothing a user wrote.
EPHEMERAL = flask-nginx-stack.ephemeral=true

.PHONY: down
down: prereqs ## Stop and remove the stack: containers, networks, sockets; data volumes stay (certificates, metrics, the database)
	$(COMPOSE) down --remove-orphans
	@project=$$($(COMPOSE) config --format json | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["name"])'); \
	volumes=$$(docker volume ls --quiet --filter "label=com.docker.compose.project=$$project" --filter "label=$(EPHEMERAL)"); \
	[ -z "$$volumes" ] || docker volume rm $$volumes >/dev/null

.PHONY: clean
clean: prereqs ## As make down, and delete every volume of the stack, its data too: certificates, metrics, the database
	$(COMPOSE) down --volumes --remove-orphans

.PHONY: reload
reload: prereqs ## Rebuild the app and replace its container (new code, new settings) without dropping a request
	$(with_base) $(COMPOSE) build app
	scripts/rollout $(COMPOSE)

.PHONY: logs
logs: prereqs ## Follow the logs of every service
	$(COMPOSE) logs --follow

.PHONY: ps
ps: prereqs ## Show the services and their health
	$(COMPOSE) ps

.PHONY: build
build: prereqs ## Build the images (without starting anything)
	$(with_base) $(COMPOSE) build

.PHONY: sbom
sbom: prereqs $(VENV)/.installed ## Build the images and write their SBOMs (CycloneDX JSON) to test-results/sbom/
	$(with_base) $(COMPOSE) build
	$(VENV)/bin/python scripts/sbom.py --out test-results/sbom $$($(COMPOSE) config --images | sort -u)

.PHONY: test
test: prereqs $(VENV)/.installed ## Run every test: app tests, then end to end on both backends
	$(with_base) $(PYTEST_PARALLEL) $(PYTEST_ARGS)

.PHONY: check
check: lint prereqs $(VENV)/.installed ## The fast tier (minutes): make lint, the fast tests, the end-to-end smoke set on both backends
	$(with_base) $(PYTEST_PARALLEL) -m 'not e2e or smoke' $(PYTEST_ARGS)

.PHONY: test-app
test-app: $(VENV)/.installed ## Run the fast tests only: no Docker, nothing marked slow (seconds)
	$(PYTEST) -m 'not e2e and not slow' $(PYTEST_ARGS)

.PHONY: bench
bench: prereqs $(BENCH_VENV)/.installed ## Benchmark both backends against what users pick instead (about 11 min); writes bench/results/
	$(with_base) $(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

# What make lint reads: every shell script (by its #! line), Dockerfile and YAML file git tracks,
# and each combination of compose files the Makefile, the tests and the benchmark use.
SHELL_SCRIPTS = $(shell git ls-files | xargs grep -lE '^\#!/(usr/)?bin/(env )?(ba)?sh' 2>/dev/null)
DOCKERFILES = $(shell git ls-files '*Dockerfile')
YAML_FILES = $(shell git ls-files '*.yaml' '*.yml')
WORKFLOWS = $(shell git ls-files '.github/workflows/*.yml')
# An optional feature's feature.mk adds its own combinations.
COMPOSE_COMBINATIONS += compose.yaml compose.yaml+compose.tls.yaml compose.yaml+compose.dev.yaml \
	compose.yaml+compose.tls.yaml+compose.dev.yaml compose.yaml+bench/compose.bench.yaml

.PHONY: lint
lint: $(VENV)/.installed ## Check Python (ruff, mypy), shell (shellcheck), Dockerfiles (hadolint), YAML, compose files, workflows (zizmor), Renovate's config
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/shellcheck $(SHELL_SCRIPTS)
	$(VENV)/bin/hadolint $(DOCKERFILES)
	$(VENV)/bin/yamllint --strict $(YAML_FILES)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(VENV)/bin/zizmor --offline --persona=auditor $(WORKFLOWS)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.renovate renovate.json
	$(VENV)/bin/python scripts/settings.py --check
	@for combination in $(COMPOSE_COMBINATIONS); do \
		$(DOCKER_COMPOSE) --env-file /dev/null $$(echo "--file $$combination" | sed 's/+/ --file /g') config --quiet \
			|| { echo "make: docker compose config failed for $$combination" >&2; exit 1; }; \
	done
	@echo "lint: $(words $(SHELL_SCRIPTS)) shell scripts, $(words $(DOCKERFILES)) Dockerfiles, $(words $(YAML_FILES)) YAML files, $(words $(WORKFLOWS)) workflows, $(words $(COMPOSE_COMBINATIONS)) compose combinations: clean"

.PHONY: format
format: $(VENV)/.installed ## Format Python and apply ruff's safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# What the app image installs, beside the app's own app/requirements.in: the stack's runtime, the
# two servers, and each optional feature's that is there. One resolution, one hashed lock.
IMAGE_REQUIREMENTS = $(filter-out app/% bench/% tests/%,$(wildcard */requirements.in))
PIP_COMPILE = $(CURDIR)/.venv-pip-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links

.PHONY: requirements
requirements: ## Re-pin the app image's requirements (app/requirements.txt), bench/'s, tests/' and checkov's (with hashes)
	rm -rf .venv-pip-tools
	$(PYTHON) -m venv .venv-pip-tools
	.venv-pip-tools/bin/pip install --quiet pip-tools
	# app first: tests/requirements.in is constrained by app/requirements.txt. The header names
	# the command, which Renovate reads to re-pin the same way (renovate.json).
	cd app && $(PIP_COMPILE) requirements.in $(IMAGE_REQUIREMENTS:%=../%) -o requirements.txt
	for dir in bench tests tests/checkov; do (cd $$dir && $(PIP_COMPILE) requirements.in -o requirements.txt); done
	rm -rf .venv-pip-tools

$(CHECKOV_VENV)/.installed: tests/checkov/requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --require-hashes -r tests/checkov/requirements.txt
	touch $@

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --require-hashes -r bench/requirements.txt
	touch $@

# The app's own dependencies too (app/requirements.txt): its tests import them.
$(VENV)/.installed: tests/requirements.txt app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r tests/requirements.txt -r app/requirements.txt
	touch $@

# The secret files a feature's services read (each feature.mk adds its own), made before
# anything that builds or starts the stack; the tests make them the same way.
.PHONY: secrets
secrets:
up-uwsgi up-gunicorn dev-uwsgi dev-gunicorn reload build bench: secrets

.PHONY: prereqs
prereqs:
	@command -v docker >/dev/null || { echo "make: Docker is not installed: https://docs.docker.com/engine/install/ (Debian: sudo host/provision-docker)" >&2; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "make: the Docker Compose v2 plugin ('docker compose') is missing: https://docs.docker.com/compose/install/linux/" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make: cannot reach the Docker daemon: is it running, and may this user use it?" >&2; exit 1; }
