"""The design card's command, ``snakemake --profile slurm all``, typed in the root of a copy of the repository after
the README's step that sets the site's values, runs the tiny pipeline as jobs of a real single-node SLURM cluster
(four GPUs declared as generic resources). Test-only settings come through config files (the tiny pipeline as the
copy's config.yaml, the test cluster's values in the copy's slurm/config.yaml), never through the command line.
Skipped, with the reason, where SLURM cannot be installed or started (it needs Debian's slurm-wlm and munge, and
root)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ENV, REPO, TINY, copy_workflow
from slurm_cluster import missing, single_node_cluster

GPU_RULES = ("train_diffusion", "sample_synthetic", "train_amplifier", "train_real_amplifier", "train_bias_classifier",
             "score_real", "train_debiased")
# what a site adds to the profile by hand: this cluster has no accounting database (sacct), so squeue
# reports job states; and the test reads every job's SLURM log
TEST_CLUSTER = """slurm-status-command: squeue
slurm-init-seconds-before-status-checks: 1
slurm-keep-successful-logs: true
"""

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing() is not None, reason=f"no SLURM here: {missing()}")]


def test_the_card_command_submits_the_pipeline_through_slurm(tmp_path):
    work = copy_workflow(tmp_path / "work")
    (work / "config.yaml").write_text(TINY.read_text())  # the copy's own config: the tiny pipeline
    # the README's step for a cluster (what `make slurm-profile ACCOUNT=none ...` runs): this cluster's partition
    site = subprocess.run([sys.executable, "-m", "ddb.tools.slurm_profile", "--no-account", "--cpu-partition",
                           "debug", "--gpu-partition", "debug"], cwd=work, env=ENV, capture_output=True, text=True)
    assert site.returncode == 0, site.stderr
    profile = work / "slurm/config.yaml"
    assert '"debug"' in profile.read_text() and '"debug"' not in (REPO / "slurm/config.yaml").read_text()
    profile.write_text(profile.read_text() + TEST_CLUSTER)
    with single_node_cluster(tmp_path / "cluster") as slurm_env:
        env = {**ENV, **slurm_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        proc = subprocess.run("snakemake --profile slurm all", shell=True, cwd=work, env=env, capture_output=True,
                              text=True, timeout=1500)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        log = proc.stdout + proc.stderr
        submitted = dict(re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*?rule_(\w+)", log))
        diffusion_job = next(job for job, rule in submitted.items() if rule == "train_diffusion")
        allocation = subprocess.run(["scontrol", "show", "job", "-o", diffusion_job], env=env, capture_output=True,
                                    text=True).stdout
    assert "TresPerJob=gres:gpu:1" in allocation  # the GPU stages asked SLURM for a GPU
    slurm_root = work / ".snakemake" / "slurm_logs"
    slurm_logs = list(slurm_root.rglob("*.log"))
    ran_on_slurm = {p.relative_to(slurm_root).parts[0].removeprefix("rule_") for p in slurm_logs}
    assert set(GPU_RULES) | {"prepare_data", "evaluate", "evaluate_amplifier", "measure_real_bias",
                             "measure_synthetic_bias"} <= ran_on_slurm
    assert "collect" not in ran_on_slurm  # a local rule
    assert len(submitted) == 34 == len(slurm_logs)  # the 41 jobs of the tiny run but the 7 local ones
    assert (work / "results/tables/summary.csv").exists()
