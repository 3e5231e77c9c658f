# Two commands for a newcomer (see README): `make run` and `make test`. Either one creates .venv first.
PYTHON ?= python3
VENV := .venv
CORES ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

.PHONY: run test lint
run: $(VENV)/.installed  ## the full default pipeline on the built-in benchmark (CPU)
	$(VENV)/bin/snakemake --cores $(CORES) all
	@cat results/tables/summary.md

test: $(VENV)/.installed  ## unit tests and a real Snakemake run of the tiny pipeline
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/snakemake --lint
