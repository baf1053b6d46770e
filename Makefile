# The README's two commands are `make demo` and `make test`; each does all the set-up.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
export PACT_DO_NOT_TRACK := true

.PHONY: help setup system python demo test lint typecheck unit integration stack-down clean

help:
	@echo "make demo   - set up, start the local stack, serve covenant, show every engine healthy"
	@echo "make test   - set up, then ruff, mypy and the whole pytest suite (unit + integration)"
	@echo "make lint | typecheck | unit | integration | stack-down | clean"

setup: system python

system:
	@bash scripts/setup-system.sh

python:
	@VENV=$(VENV) bash scripts/setup-python.sh

demo: setup
	$(BIN)/covenant demo

lint: python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: python
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

test: setup
	@bash scripts/test.sh

stack-down:
	$(BIN)/covenant stack down

clean:
	-$(BIN)/covenant stack down --purge
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
