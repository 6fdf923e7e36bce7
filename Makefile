# invoicekit — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo test test-ahead lab bench lint format chromium clean

# Create .venv when missing and (re)install when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## demo: start the sandbox, fetch, reconcile, download PDFs, run the notebooks, write reports/
demo: $(STAMP)
	$(PY) -m invoicekit demo --reports reports --workdir demo-output

## test: the whole suite: unit, sandbox integration, CLI, notebooks (nbval), real browser
test: $(STAMP) chromium
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --nbval-lax -p no:cacheprovider tests notebooks

## test-ahead: the suite again with business time 400 days ahead (INVOICEKIT_NOW), no browser test
# No test may depend on the wall clock; this run proves it. Override with
# `make test-ahead AHEAD_NOW=2030-01-01T12:00:00Z` to re-run at any business time.
AHEAD_NOW ?= $(shell date -u -d '+400 days' +%Y-%m-%dT12:00:00Z)
test-ahead: $(STAMP) chromium
	@echo "INVOICEKIT_NOW=$(AHEAD_NOW)"
	INVOICEKIT_NOW=$(AHEAD_NOW) $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --nbval-lax \
	  -p no:cacheprovider --ignore tests/test_browser.py tests notebooks

## lab: JupyterLab on the notebooks, on the defaults of make demo's reports: each notebook starts
## its own sandbox of 12 payer accounts and shows the months up to the last closed one at business
## today (`make lab NOW=2026-11-25`, like INVOICEKIT_NOW=... make demo, pins it). Kernels talk to
## the server over CurveZMQ-encrypted sockets (no plain-text TCP, no ipykernel warning).
lab: $(STAMP)
	$(if $(NOW),INVOICEKIT_NOW=$(NOW) )$(VENV)/bin/jupyter lab --LabApp.extension_manager=readonly \
	  --MappingKernelManager.transport_encryption=auto \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks

## bench: speed ratios against baselines measured in the same run
bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check invoicekit tests benchmarks
	$(VENV)/bin/ruff format --check invoicekit tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format invoicekit tests benchmarks
	$(VENV)/bin/ruff check --fix invoicekit tests benchmarks

## chromium: Debian's chromium for the browser test and PNG export (never a downloaded browser)
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: install it (apt-get install chromium); the browser test will fail without it"; \
	  fi; \
	fi

clean:
	rm -rf reports demo-output .pytest_cache build *.egg-info
