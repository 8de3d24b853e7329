# Quick start: `make demo`, `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest schemas bench bench-full screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check mdflow tests benchmarks scripts
	$(BIN)/ruff format --check mdflow tests benchmarks scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# Exit 5 means "no tests collected": not a failure for a branch without tests yet.
pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 -q; rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

test: lint typecheck pytest

schemas: $(VENV)/.installed
	$(BIN)/python -m mdflow.schemas

# mdflow vs DVC vs git-lfs vs the copy floors, interleaved (benchmarks/README.md)
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench.py --scale quick

# 10,000 and 100,000 files, 1 GiB, 200 MiB CSV: 1-3 hours, resumable; run on a quiet machine
bench-full: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench.py --scale full --resume

# Needs Chromium from the OS packages (apt-get install chromium): docs/reports.md
screenshots: $(VENV)/.installed
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
