# Cleara: `make run` starts the console with a live demo; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
NPM ?= npm
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

# Browser assets from the npm registry (package-lock.json): Plotly's basic bundle. Never
# committed; without npm the console serves the plotly wheel's full bundle instead.
node_modules/.installed: package.json package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(NPM) ci --omit=dev --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: serving plotly.js from the plotly wheel (4.8 MB) instead of the basic bundle (1.2 MB)"; fi

install: $(VENV)/.installed node_modules/.installed
install-test: $(VENV)/.installed-test node_modules/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# CLEARA_DEMO=0: no demo login, topology or history; the first admin from DJANGO_SUPERUSER_* or
# `manage.py createsuperuser` (README). `manage.py demo_remove` takes a loaded demo out again.
run: install migrate
	$(PY) manage.py collectstatic --noinput -v0
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
	rm -rf $(VENV) var static_root node_modules
