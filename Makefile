# One-command set-up: `make demo` runs the main job, `make test` runs the tests.
# Both install everything first (apt: ngspice, libngspice0-dev, klayout; pip: pinned in pyproject.toml).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA := $(abspath ../shared/datasets)
export IMCGEN_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: setup apt demo test bench layouts clean

setup: apt $(STAMP)

apt:
	@missing=""; \
	command -v ngspice >/dev/null || missing="$$missing ngspice"; \
	[ -e /usr/lib/x86_64-linux-gnu/libngspice.so ] || ls /usr/lib/*/libngspice.so >/dev/null 2>&1 || missing="$$missing libngspice0-dev"; \
	command -v klayout >/dev/null || missing="$$missing klayout"; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing libngspice0 >/dev/null; \
	fi

$(STAMP): pyproject.toml setup.py
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/imcgen build trained_models/iris --out results/iris

test: setup
	$(BIN)/python -m pytest -q tests
	$(BIN)/imcgen check  # committed layouts: XOR, DRC, LVS, netlist diff (~10 s)

bench: setup
	$(BIN)/python benchmarks/dstd_vs_exact.py

# refresh the reference layouts of the committed models (tests compare against these bytes)
LAYOUT_MODELS := iris iris-ideal digits
layouts: setup
	for m in $(LAYOUT_MODELS); do $(BIN)/imcgen gds trained_models/$$m --out layouts/$$m || exit 1; done

clean:
	rm -rf results .pytest_cache
