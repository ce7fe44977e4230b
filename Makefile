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

## make drill: the @smoke drills on the local lab (started and stopped by the run), the Allure report, and a
## table of measured RTO/RPO against the plan. Manual procedure steps are auto-confirmed and marked so.
drill: setup
	$(BIN)/drill run --tags smoke --yes --report

lab-up: setup
	$(BIN)/drill lab up

lab-down:
	$(BIN)/drill lab down

clean:
	-$(BIN)/drill lab down
	rm -rf $(VENV) node_modules .lab
