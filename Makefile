# The README's two commands are `make demo` and `make test`; each does all the set-up.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
export PACT_DO_NOT_TRACK := true

.PHONY: help setup system python reference pacts demo test flake lint typecheck unit integration stack-down clean

help:
	@echo "make demo   - set up, start the local stack, serve covenant, show every engine healthy"
	@echo "make test   - set up, then ruff, mypy and the whole pytest suite (unit + integration)"
	@echo "make pacts  - regenerate contracts/pacts/ from the consumer tests"
	@echo "make flake  - the integration tests RUNS times (default 5), each test's failure rate (HOG=2: CPU load)"
	@echo "make lint | typecheck | unit | integration | stack-down | clean"

setup: system python reference

system:
	@bash scripts/setup-system.sh

python:
	@VENV=$(VENV) bash scripts/setup-python.sh

reference: system
	@bash scripts/setup-reference.sh

# Re-run the consumer tests and write their pacts to contracts/pacts/ (review the diff).
pacts: setup
	COVENANT_UPDATE_PACTS=1 $(BIN)/pytest contracts/consumers -q

demo: setup
	$(BIN)/covenant demo

lint: python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: python
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests/unit tests/conformance

integration: setup
	$(BIN)/pytest tests/integration

test: setup
	@bash scripts/test.sh

# Flakiness: RUNS runs of the integration tests, HOG processes spinning beside them.
RUNS ?= 5
HOG ?= 0
flake: setup
	$(BIN)/python bench/flake.py --runs $(RUNS) --hog $(HOG)

stack-down:
	$(BIN)/covenant stack down

clean:
	-$(BIN)/covenant stack down --purge
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
