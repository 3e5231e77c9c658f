"""Set the site's values in the ``slurm`` profile, so that ``snakemake --profile slurm all`` submits to your cluster.

    make slurm-profile ACCOUNT=my_lab CPU_PARTITION=cpu GPU_PARTITION=gpu
    python -m ddb.tools.slurm_profile --account my_lab --cpu-partition cpu --gpu-partition gpu   # the same

Snakemake looks a profile given by name up in the folder it runs in first, so the repository's ``slurm/config.yaml``
is the profile of the card's command run from the repository root. This fills in its three lines marked EDIT (the
account, the CPU and the GPU partition) and keeps everything else, comments included; edit the file by hand for
anything else your site needs (QoS, constraints, more jobs). ``--no-account`` is for clusters without accounting.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

PROFILE = Path(__file__).resolve().parents[2] / "slurm" / "config.yaml"
NO_ACCOUNT = "slurm-no-account: true   # a cluster without accounting\n"


def site_profile(profile: str, account: str | None, cpu_partition: str, gpu_partition: str) -> str:
    """``profile`` with the site values in the lines marked EDIT; applying it again with other values works too."""
    text = re.sub(r'(&cpu_partition ")[^"]*(")', rf"\g<1>{cpu_partition}\g<2>", profile)
    text = re.sub(r'(&gpu_partition ")[^"]*(")', rf"\g<1>{gpu_partition}\g<2>", text)
    text = text.replace(NO_ACCOUNT, "")
    account_line = re.compile(r'^ *slurm_account: "[^"]*".*\n', re.M)
    if account is None:
        return account_line.sub("", text) + NO_ACCOUNT
    line = f'  slurm_account: "{account}"               # EDIT: your SLURM account (none: delete the line)\n'
    if account_line.search(text):
        return account_line.sub(line.replace("\\", "\\\\"), text)
    return re.sub(r"^(default-resources:\n)", rf"\g<1>{line}", text, flags=re.M)


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
    args.profile.write_text(site_profile(args.profile.read_text(), args.account, args.cpu_partition,
                                         args.gpu_partition))
    print(f"set {args.profile}: account {args.account or 'none'}, CPU partition {args.cpu_partition}, GPU partition "
          f"{args.gpu_partition}; `snakemake --profile slurm all` from the repository root now submits to SLURM")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
