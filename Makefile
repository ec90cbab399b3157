# Two entry points for a fresh machine with Python 3.11+: `make demo` and `make test`.
# Each builds its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# An editable install gets no bytecode (pip compiles only the files it copies), and where
# PYTHONDONTWRITEBYTECODE is set Python writes none either: compile src/ and hooks/ once here.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q src hooks
	@touch $(STAMP)

# The whole product offline: renders the reference beta and runs a real job through its local stack.
demo: $(STAMP)
	$(BIN)/betagen demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m compileall -q src hooks
	$(BIN)/python benchmarks/estimate.py
	$(BIN)/python benchmarks/render.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
