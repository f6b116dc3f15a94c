# Eddy: the two commands. Both create .venv if needed and install Eddy into it.
#   make demo  - the bundled fraud pipeline end to end on the embedded stack
#   make test  - the whole test suite against real components (Tansu, Redis, chDB)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.eddy-installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/eddy demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/features_bench.py

clean:
	rm -rf $(VENV) .eddy .pytest_cache .hypothesis
