# One Django codebase, three servers, one nginx. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := nginx postgresql redis-server wrk

.PHONY: help deps venv lock lint test test-unit test-integration local-up local-down local local-status

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9_-]*:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install the system packages (Debian/Ubuntu): nginx, PostgreSQL, Redis, wrk
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

venv: $(VENV)/.installed ## Create .venv with the locked Python packages

$(VENV)/.installed: requirements/app.txt requirements/dev.txt
	[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -r requirements/app.txt -r requirements/dev.txt
	touch $@

lock: ## Re-resolve requirements/*.in into the locks (needs uv)
	uv pip compile --python-version 3.11 -q requirements/app.in -o requirements/app.txt
	uv pip compile --python-version 3.11 -q requirements/dev.in -o requirements/dev.txt

lint: venv ## ruff over the whole tree
	$(VENV)/bin/ruff check .

local-up: deps venv ## Start the whole topology on 127.0.0.1 as host processes, wait until healthy
	$(PYTHON) -m stack up

local-down: ## Stop everything local-up started
	$(PYTHON) -m stack down

local: deps venv ## Like local-up, in the foreground with logs; Ctrl-C stops it all
	$(PYTHON) -m stack run

local-status: ## Show the host run's processes
	$(PYTHON) -m stack status

test: deps venv lint ## The full test suite: unit, integration through the host run
	$(VENV)/bin/pytest

test-unit: deps venv ## Unit tests of views and consumers (real PostgreSQL and Redis)
	$(VENV)/bin/pytest tests/unit

test-integration: deps venv ## Integration tests through nginx on every server port
	$(VENV)/bin/pytest tests/integration
