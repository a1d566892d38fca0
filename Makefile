# The two commands: `make run` starts the station, `make test` runs every test.
# Each sets up what it needs first (system packages, .venv, the package) and is quick when
# that is already done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint bench system-run system-test clean

run: system-run $(VENV)/.installed-run
	$(BIN)/kiosk run

test: system-test $(VENV)/.installed-test lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: system-test $(VENV)/.installed-test
	$(BIN)/python bench/all.py

system-run:
	@deploy/system-packages.sh run

system-test:
	@deploy/system-packages.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .grimp_cache .import_linter_cache tests/screenshots
