"""The tiny pipeline through a real single-node SLURM cluster with the project's profile (profiles/slurm), with
test-only overrides for the partition, the account and the GPU count. Skipped, with the reason, where SLURM cannot
be installed or started (it needs Debian's slurm-wlm and munge, and root)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_cluster import missing, single_node_cluster
from test_workflow import ENV, SNAKEMAKE, copy_workflow

GPU_RULES = ("train_diffusion", "sample_synthetic", "train_amplifier", "train_real_amplifier", "score_real",
             "train_debiased")

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"no SLURM here: {missing()}")


def test_tiny_pipeline_runs_as_slurm_jobs_with_the_project_profile(tmp_path):
    work = copy_workflow(tmp_path / "work")
    (work / "profiles").mkdir()
    import shutil

    shutil.copytree(Path(__file__).resolve().parents[1] / "profiles" / "slurm", work / "profiles" / "slurm")
    overrides = [f"{rule}:{key}" for rule in GPU_RULES for key in ("slurm_partition=debug", "gpu=0")]
    with single_node_cluster(tmp_path / "slurm") as slurm_env:
        cmd = [*SNAKEMAKE, "-s", str(work / "Snakefile"), "-d", str(work), "--workflow-profile", "profiles/slurm",
               "--configfile", "tiny.yaml", "--jobs", "4",
               "--default-resources", "slurm_partition=debug", "runtime=30", "mem_mb=2000",
               "--set-resources", *overrides,
               "--slurm-no-account", "--slurm-status-command", "squeue", "--slurm-keep-successful-logs",
               "--slurm-init-seconds-before-status-checks", "1", "--", "all"]
        env = {**ENV, **slurm_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1500)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    log = proc.stdout + proc.stderr
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    slurm_logs = list((work / ".snakemake" / "slurm_logs").rglob("*.log"))
    slurm_root = work / ".snakemake" / "slurm_logs"
    ran_on_slurm = {p.relative_to(slurm_root).parts[0].removeprefix("rule_") for p in slurm_logs}
    assert set(GPU_RULES) | {"prepare_data", "evaluate", "evaluate_amplifier"} <= ran_on_slurm
    assert "collect" not in ran_on_slurm  # a local rule
    assert len(submitted) == 29 == len(slurm_logs)  # the 30 jobs of the tiny run but the local collect
    assert (work / "results/tables/summary.csv").exists()
