# The two commands of README.md: `make run` (zero-config: SQLite, in-process queue) and
# `make test` (provides PostgreSQL and Redis itself). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format screenshots clean

# A busy port is said before anything else happens (the migration among it). The
# zero-config development server: a .env (the deployment's settings) is not read.
run: export FLASK_SKIP_DOTENV = 1
run: $(VENV)/.runtime
	@$(BIN)/python -c "$$PORT_FREE"
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi run

define PORT_FREE
import os, socket, sys
port = int(os.environ.get("FLASK_RUN_PORT") or 5000)
with socket.socket() as probe:
    if probe.connect_ex(("127.0.0.1", port)) == 0:
        sys.exit(f"make run: port {port} is in use; choose another: FLASK_RUN_PORT=8000 make run")
endef
export PORT_FREE

test: $(VENV)/.dev
	tests/run.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Debian's Python makes no virtual environment without python3-venv: installed here when
# run as root with apt-get, else named.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing python3-venv with apt-get"; rm -rf $(VENV); \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	      >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "Could not create a virtual environment: on Debian/Ubuntu install python3-venv."; \
	    exit 1; \
	  fi; }

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	  -r requirements.txt -r requirements-dev.txt
	touch $(VENV)/.runtime $@

# The README's screenshots, from the real pages (needs Debian's chromium).
screenshots: $(VENV)/.dev
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis
