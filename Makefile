# pbstats — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(HOME)/.local/bin/uv
endif
VENV := .venv
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test install lint format clean bench reliability

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet --break-system-packages --user uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: $(VENV)/.synced

PREFECT_HOME ?= $(CURDIR)/.pbstats/prefect
export PREFECT_HOME

demo: install
	@mkdir -p "$(PREFECT_HOME)"
	$(VENV)/bin/pbstats demo --out demo

test: install
	env -u PREFECT_HOME $(VENV)/bin/pytest -q

# province-scale benchmark (bench/run.py): e.g. make bench BENCH_ARGS="--returns 100000 --backends sqlite"
bench: install
	env -u PREFECT_HOME $(VENV)/bin/python bench/run.py $(BENCH_ARGS)

# kills, concurrent runs, outages, hostile files and PII at full size; one line per area at the end
reliability: install
	env -u PREFECT_HOME $(VENV)/bin/python reliability/run.py $(RELIABILITY_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf demo .pbstats .pytest_cache
