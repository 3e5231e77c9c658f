"""Set the site's values in the ``slurm`` profile, so that ``snakemake --profile slurm all`` submits to your cluster.

    make slurm-profile ACCOUNT=my_lab CPU_PARTITION=cpu GPU_PARTITION=gpu
    python -m ddb.tools.slurm_profile --account my_lab --cpu-partition cpu --gpu-partition gpu   # the same

Snakemake looks a profile given by name up in the folder it runs in first, so the repository's ``slurm/config.yaml``
is the profile of the card's command run from the repository root. This fills in its lines marked EDIT: the account
there, and the names of the CPU and the GPU partition in ``slurm/partitions.yaml`` (the partition of each job follows
from its ``gpu`` resource: see that file); everything else is kept, comments included. Edit the files by hand for
anything else your site needs (QoS, constraints, partition limits, more jobs). ``--no-account`` is for clusters
without accounting; one name for both partitions is for clusters with a single partition.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

PROFILE = Path(__file__).resolve().parents[2] / "slurm" / "config.yaml"
NO_ACCOUNT = "slurm-no-account: true   # a cluster without accounting\n"
CPU_LINE = re.compile(r"^  [^\s:#]+:( \{\})? +# EDIT: the CPU partition.*\n", re.M)
GPU_LINE = re.compile(r"^  [^\s:#]+:( +# EDIT: the GPU partition.*)\n", re.M)


def site_profile(profile: str, account: str | None) -> str:
    """``profile`` with the account in the line marked EDIT (or none); applying it again with other values works."""
    text = profile.replace(NO_ACCOUNT, "")
    account_line = re.compile(r'^ *slurm_account: "[^"]*".*\n', re.M)
    if account is None:
        return account_line.sub("", text) + NO_ACCOUNT
    line = f'  slurm_account: "{account}"    # EDIT: your SLURM account (none: delete the line)\n'
    if account_line.search(text):
        return account_line.sub(line.replace("\\", "\\\\"), text)
    return re.sub(r"^(default-resources:\n)", rf"\g<1>{line}", text, flags=re.M)


def site_partitions(partitions: str, cpu_partition: str, gpu_partition: str) -> str:
    """The partition file with the two names set; one partition for both (a cluster with a single partition) keeps
    the GPU entry alone, since CPU jobs go to a GPU partition when it is the only one."""
    cpu_entry = "" if cpu_partition == gpu_partition else (
        f"  {cpu_partition}: {{}}          # EDIT: the CPU partition (download, data preparation, evaluation, "
        "measuring)\n")
    text = CPU_LINE.sub(lambda _: cpu_entry, partitions)
    if cpu_entry and not CPU_LINE.search(text):  # the CPU entry was removed by an earlier single-partition run
        text = re.sub(r"^(partitions:\n)", lambda m: m[1] + cpu_entry, text, flags=re.M)
    return GPU_LINE.sub(lambda m: f"  {gpu_partition}:{m[1]}\n", text)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    account = p.add_mutually_exclusive_group(required=True)
    account.add_argument("--account", help="your SLURM account (sbatch -A)")
    account.add_argument("--no-account", action="store_true", help="submit without an account")
    p.add_argument("--cpu-partition", required=True, help="partition of the CPU jobs (data, evaluation)")
    p.add_argument("--gpu-partition", required=True, help="partition of the GPU jobs (training, sampling, scoring)")
    p.add_argument("--profile", type=Path, default=PROFILE, help="the profile file to set (default: slurm/config.yaml)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    partitions = args.profile.with_name("partitions.yaml")
    args.profile.write_text(site_profile(args.profile.read_text(), args.account))
    partitions.write_text(site_partitions(partitions.read_text(), args.cpu_partition, args.gpu_partition))
    print(f"set {args.profile}: account {args.account or 'none'}; {partitions}: CPU partition {args.cpu_partition}, "
          f"GPU partition {args.gpu_partition}; `snakemake --profile slurm all` from the repository root now submits "
          "to SLURM")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
