"""A single-node SLURM cluster on localhost for tests: munged + slurmctld + slurmd from Debian's slurm-wlm, no
accounting database, state under a temporary folder; started and stopped by the test session. The node declares four
GPUs (harmless character devices stand in for their device files), so jobs that request ``gpu=1`` are scheduled as on a GPU
cluster and run on the CPU. Like a real GPU cluster it has two partitions, ``cpu`` (the default) and ``gpu``; the one
node is in both. Finished jobs stay visible to ``scontrol`` for two hours, so a test can ask where each ran."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CONF = """ClusterName=ddbtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=7200
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={port}
SlurmdPort={port_d}
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=localhost CPUs=32 RealMemory=64000 Gres=gpu:4 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
"""


# The configuration must sit at the default path: the job-step plugin strips SLURM_CONF from the environment of the
# srun it starts inside each job (snakemake-executor-plugin-slurm-jobstep 0.6.1), so a config elsewhere is not found.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = SYSTEM_CONF.with_name("gres.conf")
STAND_IN_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install slurm-wlm munge; .ci/run does this)"
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    for conf in (SYSTEM_CONF, GRES_CONF):
        if conf.exists():
            return f"{conf} exists; the test does not replace a real cluster's configuration"
    return None


def _stop_pidfile(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.kill(int(path.read_text().strip()), signal.SIGTERM)


@contextlib.contextmanager
def single_node_cluster(root: Path, port: int = 16817):
    """Yield the environment of a running localhost cluster; stop its daemons and remove its config afterwards."""
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    try:  # created, not overwritten: two clusters on one machine share ports and hang each other's job steps
        with SYSTEM_CONF.open("x") as conf:
            conf.write(CONF.format(root=root, port=port, port_d=port + 1))
    except FileExistsError:
        raise RuntimeError(f"{SYSTEM_CONF} exists: another test cluster is running (do two xdist workers run the "
                           "SLURM tests? tests/conftest.py's ONE_WORKER keeps them on one)") from None
    # Slurm drops GPUs without a device file; harmless character devices stand in for them
    GRES_CONF.write_text("AutoDetect=off\n" + "".join(f"NodeName=localhost Name=gpu File={device}\n"
                                                      for device in STAND_IN_DEVICES))
    env = dict(os.environ)
    munge_socket = Path("/run/munge/munge.socket.2")
    started_munge = None
    if not munge_socket.exists():
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        started_munge = subprocess.run(["munged", "--force"], capture_output=True, text=True)
    try:
        subprocess.run(["slurmctld"], env=env, check=True)
        subprocess.run(["slurmd"], env=env, check=True)
        for _ in range(100):  # bounded wait for the node to come up
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.strip() in ("idle", "mixed", "allocated"):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"slurm node did not come up: {state!r}; see {root}/slurmctld.log, {root}/slurmd.log")
        yield env
    finally:
        _stop_pidfile(root / "slurmd.pid")
        _stop_pidfile(root / "slurmctld.pid")
        if started_munge is not None:
            subprocess.run(["pkill", "-x", "munged"], check=False)
        SYSTEM_CONF.unlink(missing_ok=True)
        GRES_CONF.unlink(missing_ok=True)
