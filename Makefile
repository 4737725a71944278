# The two commands of README.md: `make run` (zero-config: SQLite, in-process queue) and
# `make test` (provides PostgreSQL and Redis itself). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format screenshots clean

# A busy port is said before anything else happens (the migration among it).
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

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtual environment: on Debian/Ubuntu install python3-venv."; \
	  exit 1; }

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
