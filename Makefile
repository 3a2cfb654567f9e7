# The two commands of the README; both set the machine up first (idempotent, fast when done).
VENV ?= .venv
PY := $(VENV)/bin/python
SUITE ?= speech-quick

.PHONY: setup bench test report
setup:
	bash scripts/setup.sh

bench: setup
	$(VENV)/bin/separena bench --suite $(SUITE)

report: setup
	$(VENV)/bin/separena report -o results/report

test: setup
	$(PY) -m pytest
