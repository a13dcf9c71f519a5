# Two commands for a fresh machine with only Python 3: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m daskgd.demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check daskgd tests benchmarks examples
	$(BIN)/ruff format --check daskgd tests benchmarks examples
	$(BIN)/mypy daskgd

# The documentation site, built offline from scratch (-E) with warnings as errors.
docs: $(VENV)/.installed-test
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html

test: lint docs
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/bench_fit.py

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
