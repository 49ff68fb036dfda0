# Cleara: `make run` starts the console with a live demo; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export CLEARA_DEMO ?= 1

.PHONY: run test lint install install-test migrate demo-setup bench stack clean

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(PY) manage.py migrate --noinput

# CLEARA_DEMO=0: no demo login, topology or history; the first admin from DJANGO_SUPERUSER_* or
# `manage.py createsuperuser` (README). `manage.py demo_remove` takes a loaded demo out again.
run: install migrate
	@if [ "$(CLEARA_DEMO)" = "0" ]; then $(PY) -m cleara.bootstrap; else $(PY) manage.py demo_setup; fi
	$(PY) manage.py serve --port $(PORT)

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the apps' dependency contracts (.importlinter)

test: install-test lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The production topology on loopback, without containers: PostgreSQL, Redis, two daphne, the
# worker, nginx and Prometheus with deploy/'s files (scripts/stack.py). Ctrl-C stops everything.
stack: install-test
	$(PY) scripts/stack.py

clean:
	rm -rf $(VENV) var static_root
