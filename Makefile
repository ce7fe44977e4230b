# The two commands of the README. Both install what is missing first (idempotent).
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: setup test drill lab-up lab-down clean

setup:
	@bash scripts/bootstrap.sh

## make test: the project's own suite, unit and integration against the real local lab.
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make drill: bring the lab up, run the smoke drills, write the report, bring the lab down, print RTO/RPO.
drill: setup
	@bash scripts/smoke-drill.sh

lab-up: setup
	$(BIN)/drill lab up

lab-down:
	$(BIN)/drill lab down

clean:
	-$(BIN)/drill lab down
	rm -rf $(VENV) node_modules .lab
