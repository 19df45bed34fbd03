# Switchboard. `make help` lists the targets. With a Docker engine, the -prod/-dev targets use
# Docker Compose; without one, run-prod and the test targets use local processes instead.
SHELL := /bin/bash
.DEFAULT_GOAL := help

COMPOSE ?= docker compose
DEV = $(COMPOSE) -f docker-compose.dev.yml
PROD = $(COMPOSE) -f docker-compose.prod.yml
WORKERS ?= 2
STACK ?= prod
PY = .venv/bin/python
ENGINE := $(shell docker info >/dev/null 2>&1 && echo yes)
AS_ME = --user "$$(id -u):$$(id -g)"

.PHONY: help install run-prod down-prod build-prod logs run-dev down-dev build-dev test \
	test-unit-dev test-functional-dev coverage-dev lint-dev format-dev bench drills simulate keys

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

install: ## Install what the local stack needs (apt packages, secantusd-rs, the venv)
	@scripts/install.sh

run-prod: ## Run the whole system: Compose with an engine, local processes without one
ifeq ($(ENGINE),yes)
	@echo "Switchboard: Docker Compose mode (docker-compose.prod.yml, $(WORKERS) workers)"
	@test -f .env || { echo "cp .env.example .env and fill in the credentials first"; exit 1; }
	$(PROD) up -d --build --wait --scale worker=$(WORKERS)
else
	@echo "Switchboard: local process mode (no Docker engine answered)"
	@scripts/install.sh
	@WORKERS=$(WORKERS) $(PY) -m tools.localstack
endif

down-prod: ## Stop the production stack (volumes and .data/ are kept)
ifeq ($(ENGINE),yes)
	$(PROD) down --remove-orphans
else
	@[ -S .data/run/supervisor.sock ] && .venv/bin/supervisorctl -c .data/run/supervisord.conf shutdown || echo "no local stack running"
endif

build-prod: ## Build the production images
	$(PROD) build

logs: ## Follow the logs (STACK=dev for the dev stack)
ifeq ($(ENGINE),yes)
	$(COMPOSE) -f docker-compose.$(STACK).yml logs -f --tail=200
else
	tail -n 50 -F .data/logs/*.log
endif

build-dev: ## Build the development images
	$(DEV) build

run-dev: ## Run the development stack (source mounted, auto-reload)
	$(DEV) up -d --build --wait

down-dev: ## Stop the development stack
	$(DEV) down --remove-orphans

test: ## Run every test: unit, static and integration against real local services
	@scripts/install.sh
	$(PY) -m pytest tests bench -q

bench: ## Benchmarks on a private local stack; writes docs/benchmarks.{md,json} and charts
	@scripts/install.sh
	$(PY) -m bench.run $(BENCH_ARGS)

drills: ## Fault drills under load (worker, RabbitMQ, database, web replica); writes docs/drills.md
	@scripts/install.sh
	$(PY) -m tools.drills $(DRILLS_ARGS)

keys: ## Manage API keys on the local database: make keys ARGS='create --name ci --scope jobs:write' (or list, revoke ID)
	@scripts/install.sh --python-only
	$(PY) -m services.keys $(ARGS)

# Config in pyproject.toml [tool.mutmut]; mutants/ is made afresh each run. MUTMUT_ARGS='--max-children 2'.
.PHONY: mutation
mutation: ## Mutation testing (mutmut) of services/core/jobs and tickets by the unit tests; fails under 85% killed in either
	@scripts/install.sh --python-only
	rm -rf mutants
	@echo "mutmut: every mutant of services/core/jobs and services/core/tickets (about 20 minutes on 2 cores)"
	$(PY) -m mutmut run $(MUTMUT_ARGS) >/dev/null || true
	$(PY) -m mutmut results --all true | $(PY) scripts/mutation-floor.py 85 services.core.jobs services.core.tickets

test-unit-dev: ## Run the unit tests alone (no services), in seconds
ifeq ($(ENGINE),yes)
	$(DEV) run --rm --no-deps $(AS_ME) web python -m pytest tests/unit -q
else
	@scripts/install.sh --python-only
	$(PY) -m pytest tests/unit -q
endif

test-functional-dev: ## Run the integration tests (they start their own stack)
ifeq ($(ENGINE),yes)
	$(DEV) run --rm $(AS_ME) web python -m pytest tests/integration -q
else
	@scripts/install.sh
	$(PY) -m pytest tests/integration -q
endif

coverage-dev: ## Unit and integration tests with a coverage report
	@scripts/install.sh
	$(PY) -m coverage run -m pytest tests -q
	$(PY) -m coverage report --include='services/*'

lint-dev: ## ruff, mypy, radon (nothing above grade B in services/), hadolint and the Compose schema check
	@scripts/install.sh --python-only
	$(PY) -m ruff check services tools tests bench
	$(PY) -m ruff format --check services tools tests bench
	$(PY) -m mypy
	scripts/complexity.sh
	scripts/check-containers.sh

format-dev: ## Format the code with ruff
	@scripts/install.sh --python-only
	$(PY) -m ruff format services tools tests bench
	$(PY) -m ruff check --fix services tools tests bench

# The ticket simulator's options: `make simulate AGENTS=200 TICKETS=20000 RATE=40`.
AGENTS ?= 50
TICKETS ?= 2000
RATE ?= 20
HANDLE ?= 1-6
DURATION ?= 600
SKILLS ?= en,fr,de,billing,tech,sales
BASE_URL ?= http://127.0.0.1:8080

simulate: ## Drive the ticket API of a running stack and report (AGENTS TICKETS RATE HANDLE DURATION SKILLS)
	@scripts/install.sh --python-only
	$(PY) -m tools.simulator --base-url $(BASE_URL) --agents $(AGENTS) --tickets $(TICKETS) \
		--rate $(RATE) --handle $(HANDLE) --duration $(DURATION) --skills $(SKILLS)
