# Two commands for a newcomer (see README): `make run` and `make test`. Either one creates .venv first.
PYTHON ?= python3
VENV := .venv
CORES ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

.PHONY: install run report test test-fast rehearsal gpu-check lint slurm-profile
install: $(VENV)/.installed  ## the environment (.venv) from pyproject.toml

run: $(VENV)/.installed  ## the full default pipeline on the built-in benchmark (CPU), then its report
	$(VENV)/bin/snakemake --cores $(CORES) all
	$(VENV)/bin/snakemake --report results/report.html
	@cat results/tables/summary_mean.md
	@echo "Open results/report.html in a browser (docs/report.md)."

report: $(VENV)/.installed  ## the HTML report of the finished run, and screenshots of it (needs headless Chromium)
	$(VENV)/bin/snakemake --report results/report.html
	$(VENV)/bin/python -m ddb.tools.screenshot results/report.html --out-dir results/report_screenshots

test: $(VENV)/.installed  ## every test, a worker per core and one more, a test at a time (the SLURM tests together on one)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -n auto --dist loadgroup --no-loadscope-reorder

test-fast: $(VENV)/.installed  ## the unit tests alone (no Snakemake, SLURM or browser), under 2 minutes
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -n auto --dist loadgroup -m "not slow"

rehearsal: $(VENV)/.installed  ## every dataset preset, alone and with configs/paper.yaml, shrunk by configs/rehearsal.yaml, on fixture files: docs/rehearsal.md
	HF_HUB_OFFLINE=1 $(VENV)/bin/python tests/rehearsal.py

gpu-check: $(VENV)/.installed  ## on a GPU machine: the Waterbirds + paper rehearsal, then the throughput table (results/gpu_check/)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m ddb.tools.gpu_check

# Your site's values in slurm/config.yaml and slurm/partitions.yaml, the profile of `snakemake --profile slurm all` run from here.
slurm-profile: $(VENV)/.installed
	@test -n "$(ACCOUNT)" -a -n "$(CPU_PARTITION)" -a -n "$(GPU_PARTITION)" || { echo "usage: make slurm-profile \
	ACCOUNT=<account, or none> CPU_PARTITION=<partition> GPU_PARTITION=<partition>" >&2; exit 2; }
	$(VENV)/bin/python -m ddb.tools.slurm_profile $(if $(filter none,$(ACCOUNT)),--no-account,--account $(ACCOUNT)) \
		--cpu-partition $(CPU_PARTITION) --gpu-partition $(GPU_PARTITION)

lint: $(VENV)/.installed  ## snakemake --lint and snakefmt (line length in pyproject.toml)
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile rules
