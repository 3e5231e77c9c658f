# Two commands for a newcomer (see README): `make run` and `make test`. Either one creates .venv first.
PYTHON ?= python3
VENV := .venv
CORES ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

.PHONY: run report test lint
run: $(VENV)/.installed  ## the full default pipeline on the built-in benchmark (CPU), then its report
	$(VENV)/bin/snakemake --cores $(CORES) all
	$(VENV)/bin/snakemake --report results/report.html
	@cat results/tables/summary_mean.md
	@echo "Open results/report.html in a browser (README: Reading the report)."

report: $(VENV)/.installed  ## the HTML report of the finished run, and screenshots of it (needs headless Chromium)
	$(VENV)/bin/snakemake --report results/report.html
	$(VENV)/bin/python -m ddb.screenshot results/report.html --out-dir results/report_screenshots

test: $(VENV)/.installed  ## unit tests and a real Snakemake run of the tiny pipeline
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/snakemake --lint
