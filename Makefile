# Two entry points for a fresh machine with Python 3.11+: `make demo` and `make test`.
# Each builds its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# checkov pins old releases of boto3, packaging and networkx: it gets a virtual environment of its own, so
# the test environment keeps the versions the rendered workers run with (tests/test_checkov.py finds it here).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

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

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2'
	@touch $(CHECKOV_STAMP)

# The whole product offline: renders the reference beta and runs a real job through its local stack.
demo: $(STAMP)
	$(BIN)/betagen demo

test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m compileall -q src hooks
	$(BIN)/python benchmarks/estimate.py
	$(BIN)/python benchmarks/render.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
