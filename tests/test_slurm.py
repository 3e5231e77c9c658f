"""The workflow as jobs of a real single-node SLURM cluster with a ``cpu`` and a ``gpu`` partition (four GPUs declared
as generic resources), after the README's step that sets the site's values:

- the design card's command, ``snakemake --profile slurm all``, typed in the root of a copy of the repository, runs
  the tiny pipeline (test-only settings come through config files: the tiny pipeline as the copy's config.yaml) with
  every rule and every kind of method input (no amplifier, the synthetic amplifier's scores, the real-data amplifier,
  another run's model), not every method: a method is a module run by train_debiased, which SLURM sees as the same
  rule (tests/test_workflow.py runs them all);
- the README's preset command, ``snakemake --profile slurm --configfile configs/paper.yaml configs/waterbirds.yaml
  configs/rehearsal.yaml -- all``, rehearses the Waterbirds preset with the paper's diffusion settings on fixture
  files: the paper UNet, the ancestral sampler, ResNet-50 at 224 px from weights staged on the login node (with one
  more config file, shrinking the UNet's work to one image a step).

Both check that every job requesting a GPU ran in the ``gpu`` partition and no other job did, and that the rules whose
jobs requested one are exactly those declaring ``gpu`` in rules/*.smk. Skipped, with the reason, where SLURM cannot
be installed or started (it needs Debian's slurm-wlm and munge, and root)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ddb import methods
from helpers import ENV, REPO, TINY, copy_workflow
from rehearsal import rehearsal_copy, run
from slurm_cluster import missing, single_node_cluster

# what a site adds to the profile by hand: this cluster has no accounting database (sacct), so squeue
# reports job states; and the test reads every job's SLURM log
TEST_CLUSTER = """slurm-status-command: squeue
slurm-init-seconds-before-status-checks: 1
slurm-keep-successful-logs: true
"""

# over configs/rehearsal.yaml: one diffusion step of one image and one image per class. A step of the paper UNet at
# 64 px costs a CPU seconds per image (attention over 4,096 positions); where the jobs run does not depend on it.
SMALLER_REHEARSAL = """final_overrides:
  diffusion: {steps: 1, batch_size: 1, warmup_steps: 0}
  sampling: {images_per_class: 1, batch_size: 1}
"""

# the methods of the card command's run: each input kind of train_debiased and each kind of amplifier, once or more
ONE_METHOD_PER_INPUT_KIND = ("erm", "ddb_i", "ddb_ii", "ddb_i_real_amplifier", "ddb_llr")

# one worker runs this file's tests (tests/conftest.py, ONE_WORKER): they share one cluster
pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing() is not None, reason=f"no SLURM here: {missing()}")]


def rules_declaring_gpus() -> set[str]:
    """Rules whose ``resources:`` request a GPU, read from rules/*.smk."""
    found = set()
    for smk in (REPO / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), re.S | re.M):
            if re.search(r"^\s+gpu=\d", body, re.M):
                found.add(name)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster's environment. Its GPUs are stand-ins, so the jobs SLURM gives them to are told to use the CPU
    (DDB_DEVICE=cpu; a real job given GPUs that CUDA cannot use stops)."""
    with single_node_cluster(tmp_path_factory.mktemp("cluster")) as slurm_env:
        yield {**ENV, **slurm_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DDB_DEVICE": "cpu"}


def set_site(work: Path) -> None:
    """The README's step for a cluster (what `make slurm-profile ACCOUNT=none CPU_PARTITION=cpu GPU_PARTITION=gpu`
    runs), plus what this test cluster needs."""
    site = subprocess.run([sys.executable, "-m", "ddb.tools.slurm_profile", "--no-account", "--cpu-partition", "cpu",
                           "--gpu-partition", "gpu"], cwd=work, env=ENV, capture_output=True, text=True)
    assert site.returncode == 0, site.stderr
    profile = work / "slurm/config.yaml"
    profile.write_text(profile.read_text() + TEST_CLUSTER)


def where_jobs_ran(log: str, env: dict) -> list[tuple[str, str, bool]]:
    """(rule, partition, whether it requested a GPU) of every job Snakemake submitted, as SLURM recorded it."""
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*?rule_(\w+)", log)
    jobs = []
    for job_id, rule in submitted:
        record = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=env, capture_output=True,
                                text=True).stdout
        partition = re.search(r"\bPartition=(\S+)", record)
        assert partition, f"SLURM has no record of job {job_id} ({rule}): {record!r}"
        jobs.append((rule, partition[1], "gres/gpu" in record or "gres:gpu" in record))
    return jobs


def assert_partitions_follow_gpus(jobs: list[tuple[str, str, bool]]) -> None:
    wrong = [(rule, partition) for rule, partition, gpu in jobs if partition != ("gpu" if gpu else "cpu")]
    assert not wrong, f"jobs in the wrong partition: {wrong}"
    requested = {rule for rule, _, gpu in jobs if gpu}
    ran = {rule for rule, _, _ in jobs}
    assert requested == rules_declaring_gpus() & ran and requested and ran - requested


def test_the_card_command_s_methods_read_every_kind_of_input():
    def kinds(names):
        found = [methods.method(name) for name in names]
        return {kind for m in found for kind in m.needs} | {m.amplifier_trained_on for m in found}

    assert kinds(ONE_METHOD_PER_INPUT_KIND) == kinds(methods.method_names())


def test_the_card_command_submits_the_pipeline_through_slurm(cluster, tmp_path):
    work = copy_workflow(tmp_path / "work")
    tiny = yaml.safe_load(TINY.read_text()) | {"methods": list(ONE_METHOD_PER_INPUT_KIND)}
    (work / "config.yaml").write_text(yaml.safe_dump(tiny))  # the copy's own config: the tiny pipeline
    set_site(work)
    proc = subprocess.run("snakemake --profile slurm all", shell=True, cwd=work, env=cluster, capture_output=True,
                          text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    jobs = where_jobs_ran(proc.stdout + proc.stderr, cluster)
    assert_partitions_follow_gpus(jobs)
    slurm_root = work / ".snakemake" / "slurm_logs"
    slurm_logs = list(slurm_root.rglob("*.log"))
    ran_on_slurm = {p.relative_to(slurm_root).parts[0].removeprefix("rule_") for p in slurm_logs}
    cpu_rules = {"prepare_data", "evaluate", "evaluate_amplifier", "measure_real_bias", "measure_synthetic_bias"}
    assert (rules_declaring_gpus() - {"generate_urbancars"}) | cpu_rules <= ran_on_slurm
    assert "collect" not in ran_on_slurm  # a local rule
    assert len(jobs) == 26 == len(slurm_logs)  # the 34 jobs of this run but the 8 local ones
    assert {run.split("/")[0] for run in os.listdir(work / "results/shapes/debias")} == set(ONE_METHOD_PER_INPUT_KIND)
    assert (work / "results/tables/summary.csv").exists()


def test_the_waterbirds_preset_with_the_paper_settings_rehearses_through_slurm(cluster, tmp_path):
    with rehearsal_copy("waterbirds", tmp_path / "work") as (work, weights_config, server):
        set_site(work)
        (work / "smaller.yaml").write_text(SMALLER_REHEARSAL)
        proc = run(work, "waterbirds", True, weights_config, server, prefix=["--profile", "slurm"], env=cluster,
                   overlays=("smaller.yaml",))
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-8000:]
        requests = [path for path, _ in server.requests]
    jobs = where_jobs_ran(log, cluster)
    assert_partitions_follow_gpus(jobs)
    assert {"train_diffusion", "sample_synthetic", "train_amplifier", "train_debiased"} <= {rule for rule, _, _ in jobs}
    assert "/weights/resnet50-fixture.pth" in requests  # staged once, by the login-node rule (not a SLURM job)
    assert not any(rule in ("stage_weights", "download") for rule, _, _ in jobs)
    for rule, log_name in (("train_diffusion", "waterbirds.log"), ("train_debiased", "waterbirds/erm/seed0.log")):
        assert "deterministic kernels" in (work / f"results/logs/{rule}/{log_name}").read_text()
    diffusion = (work / "results/logs/train_diffusion/waterbirds.log").read_text()
    assert "UNet parameters: 36.14M" in diffusion  # the paper UNet, with its attention
    sampling = (work / "results/logs/sample_synthetic/waterbirds/base/class_0.log").read_text()
    assert "ddpm" in sampling  # the ancestral sampler
    assert (work / "results/tables/summary.csv").exists()
