# tigris-grpc: every target works from a fresh clone; it creates .venv and the stubs it needs.
# Only PyPI is reached.

PYTHON ?= python3
# Another interpreter gets a virtualenv of its own: make test PYTHON=python3.9 VENV=.venv-3.9
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The generator pins protobuf below 7, so it gets a virtualenv of its own.
GEN    := $(VENV)/protoc
GEN_STAMP := $(GEN)/.installed
PROTOS := $(wildcard proto/tigris_grpc/_proto/*.proto)
STUBS  := tigris_grpc/_proto/.generated
# On Python 3.9 subprocess forks (3.10+ uses vfork), and grpc's fork handlers can then abort the
# child before it execs while calls are in flight (grpc issue 43055). The tests, demo and
# benchmark spawn processes and never fork a grpc-using child, so they need no fork support.
export GRPC_ENABLE_FORK_SUPPORT ?= false

.DEFAULT_GOAL := help
.PHONY: help venv protos test test-fast lint clean serve demo bench

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(STAMP) ## Create .venv (or VENV=...) with the package (editable) and the dev tools

$(GEN_STAMP): scripts/gen_protos.py
	test -x $(GEN)/bin/python || $(PYTHON) -m venv $(GEN)
	$(GEN)/bin/python -m pip install --quiet --disable-pip-version-check $$($(GEN)/bin/python scripts/gen_protos.py --requirements)
	touch $@

$(STUBS): $(GEN_STAMP) $(PROTOS) scripts/gen_protos.py
	$(GEN)/bin/python scripts/gen_protos.py
	touch $@

protos: $(STUBS) ## Generate the protobuf/gRPC modules and .pyi stubs from proto/

test: $(STAMP) $(STUBS) ## Run the whole test suite (slow tests included, as CI does)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) $(STUBS) ## Run the tests without the slow ones
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP) $(STUBS) ## ruff and mypy --strict on the hand-written code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

serve: $(STAMP) $(STUBS) ## Run the local Tigris server on 127.0.0.1:8081 (ARGS="--port 0 --data tigris.db ...")
	$(BIN)/python -m tigris_grpc.server $(ARGS)

demo: $(STAMP) $(STUBS) ## Start the local server, run examples/quickstart.py against it, stop it
	$(BIN)/python scripts/demo.py

bench: $(STAMP) $(STUBS) ## Benchmark the client against the raw stub and the REST pattern (ARGS="--quick")
	$(BIN)/python scripts/bench.py $(ARGS)

clean: ## Remove the virtualenv, generated stubs and caches
	rm -rf $(VENV) .venv-* build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	rm -f tigris_grpc/_proto/*_pb2.py tigris_grpc/_proto/*_pb2.pyi tigris_grpc/_proto/*_pb2_grpc.py tigris_grpc/_proto/*_pb2_grpc.pyi $(STUBS)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
