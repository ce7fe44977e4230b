# The two commands of the README. Both install what is missing first (idempotent).
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: setup check test drill lab-up lab-down clean lock

setup:
	@bash scripts/bootstrap.sh

## make test: the project's own suite, unit and integration against the real local lab, in three groups. The
## tests that need no lab run first on TEST_WORKERS processes (pytest-xdist, one file per worker at a time, each
## worker with its own state folder: tests/conftest.py). Then the `timing` tests that need no lab (they time
## outages of their own stand-ins against ground truth) on TIMING_WORKERS processes, one file each: never beside
## a lab or the unit tests, and on a 2-core box one per core. Last, one after another, the lab tests on the
## shared lab and the timing tests marked `alone` (they failed beside a second worker on a loaded machine). Every group always runs and any failing fails the target. PYTEST_ARGS='tests/x.py -k y' runs
## just that, in one process.
TEST_WORKERS ?= 2
TIMING_WORKERS ?= 2
test: setup check
ifeq ($(strip $(PYTEST_ARGS)),)
	@$(BIN)/python -m pytest -m "not lab and not own_lab and not timing" -n $(TEST_WORKERS) --dist loadfile; \
	unit=$$?; \
	$(BIN)/python -m pytest -m "timing and not alone and not lab and not own_lab" -n $(TIMING_WORKERS) --dist loadfile; \
	timed=$$?; \
	$(BIN)/python -m pytest -m "alone or lab or own_lab"; lab=$$?; \
	echo "make test: tests on workers exit $$unit, timing tests exit $$timed, lab tests exit $$lab"; \
	[ $$unit -eq 0 ] && [ $$timed -eq 0 ] && [ $$lab -eq 0 ]
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

## make check: the house rules, in seconds: lint, format and the import layers (pyproject.toml says which).
check: setup
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/lint-imports --no-logo --no-cache

## make drill: the @smoke drills on the local lab (started and stopped by the run), the Allure report, and a
## table of measured RTO/RPO against the plan. Manual procedure steps are auto-confirmed and marked so.
drill: setup
	$(BIN)/drill run --tags smoke --yes --report

## make lock: re-resolve pyproject.toml (dependencies + the test extra) into requirements.lock, every pin with
## its hashes, for the interpreter the venv is built on. Existing pins are kept; to move them, pass
## LOCK_ARGS=--upgrade (all) or LOCK_ARGS='--upgrade-package NAME'. pip-tools runs in a throwaway venv, so
## .venv is untouched until the next `make setup` installs the new lock.
LOCK_PY ?= /usr/bin/python3
lock:
	@set -o pipefail; quiet() { "$$@" 2>&1 | { grep -v 'is ignored: it is neither' || true; }; } && \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	pyv=$$($(LOCK_PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])') && \
	$(LOCK_PY) -m venv "$$tmp/venv" && \
	quiet "$$tmp/venv/bin/pip" install -q --disable-pip-version-check 'pip-tools>=7.4,<8' && \
	{ [ ! -f requirements.lock ] || cp requirements.lock "$$tmp/requirements.lock"; } && \
	CUSTOM_COMPILE_COMMAND="make lock" quiet "$$tmp/venv/bin/pip-compile" -q --generate-hashes --allow-unsafe \
	  --strip-extras --extra test --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
	  -o "$$tmp/requirements.lock" pyproject.toml && \
	{ printf '%s\n' \
	  "# The harness's Python stack (dependencies + the test extra), every pin with its hashes." \
	  "# \`make setup\` installs exactly this (pip --require-hashes); regenerate it with \`make lock\`." \
	  "# Resolved for Python $$pyv on Linux $$(uname -m), the interpreter .venv is built on: chaostoolkit-lib 1.45" \
	  "# needs Python >= 3.12, so on 3.11 this pins 1.44. Re-lock when the base Python changes."; \
	  cat "$$tmp/requirements.lock"; } > requirements.lock
	@echo "requirements.lock written; \`make setup\` installs it"

lab-up: setup
	$(BIN)/drill lab up

lab-down:
	$(BIN)/drill lab down

clean:
	-$(BIN)/drill lab down
	rm -rf $(VENV) node_modules .lab
