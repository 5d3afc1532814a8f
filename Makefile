# Kursatlas: two commands for a fresh machine with Python 3.11, pip and make.
#   make demo   virtualenv + install + whole analysis on the embedded model region
#   make test   virtualenv + install (with test extras, chromium) + test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-test browser lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/kursatlas demo

browser:
	bash tests/browser/setup.sh

test: install-test browser
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check coverage tests bench data

bench: install-test browser
	$(BIN)/python bench/bench_traveltime.py
	$(BIN)/python bench/bench_placement.py
	$(BIN)/python bench/bench_maps.py
	$(BIN)/python bench/bench_rerun.py
	$(BIN)/python bench/bench_gtfs_cache.py

clean:
	rm -rf maps/*.html results/* .pytest_cache
