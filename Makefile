# The two commands of the README. Each creates .venv on first use, installs the CPU build of
# torch==2.13.0 first (any other spec may pull a multi-GB CUDA build), then this project.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean

run: $(VENV)/.installed-run
	$(PY) -m bot

test: $(VENV)/.installed-dev
	$(PY) -m pytest

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .

bench: $(VENV)/.installed-run
	$(PY) -m model.bench

$(VENV)/.installed-torch:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	touch $@

$(VENV)/.installed-run: $(VENV)/.installed-torch pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-torch pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
