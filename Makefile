# The two set-up commands of the README: `make demo` and `make test`.
# Each creates the project's own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit certify bench crash-bench fuzz screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ocpp-station demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

certify: $(STAMP)
	$(BIN)/ocpp-station certify

bench: $(STAMP)
	$(BIN)/python bench/bench_response_times.py
	$(BIN)/python bench/bench_composite_schedule.py
	$(BIN)/python bench/bench_local_list.py

crash-bench: $(STAMP)
	$(BIN)/python bench/crash_safety.py --sessions 1000 --kills 200 --link-drops 100 --seed 1

# The long schema-aware fuzz run (the suite runs a short seeded one): frames/s and findings.
fuzz: $(STAMP)
	$(BIN)/python -m ocpp_station.tools.fuzz --frames 100000 --seed 1

# docs/screenshots/{station,fleet}.png from a small demo, photographed by the system chromium.
screenshots: $(STAMP)
	$(BIN)/python -m tests.support.screenshots

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
