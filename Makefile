# The two commands of README.md: `make run` (zero-config: SQLite, in-process queue) and
# `make test` (provides PostgreSQL and Redis itself). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format screenshots clean

run: $(VENV)/.runtime
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi run

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
