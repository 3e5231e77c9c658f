"""Install the ``slurm`` site profile, so that ``snakemake --profile slurm all`` runs the workflow on a SLURM cluster.

    make slurm-profile ACCOUNT=my_lab CPU_PARTITION=cpu GPU_PARTITION=gpu
    python -m ddb.tools.slurm_profile --account my_lab --cpu-partition cpu --gpu-partition gpu   # the same

Snakemake finds a profile given by name in the current folder, then in the user's and the site's configuration
folders. This writes the repository's ``profiles/slurm/config.yaml`` with the site's account and partitions filled
in to the user's one (``$XDG_CONFIG_HOME/snakemake/slurm/``, by default ``~/.config/snakemake/slurm/``), where site
settings belong: outside the repository, so that a ``git pull`` never conflicts with them, and kept there when the
repository moves. An existing, different profile there is left alone unless ``--force``; edit it by hand for
anything else of your site (QoS, constraints, more jobs). ``--no-account`` is for clusters without accounting.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "profiles" / "slurm" / "config.yaml"


def site_profile(template: str, account: str | None, cpu_partition: str, gpu_partition: str) -> str:
    """The template with the three site values filled in (the lines marked EDIT), comments kept."""
    text = re.sub(r'(&cpu_partition ")[^"]*(")', rf"\g<1>{cpu_partition}\g<2>", template)
    text = re.sub(r'(&gpu_partition ")[^"]*(")', rf"\g<1>{gpu_partition}\g<2>", text)
    if account:
        text = re.sub(r'(slurm_account: ")[^"]*(")', rf"\g<1>{account}\g<2>", text)
    else:
        text = re.sub(r"\n *slurm_account: .*", "", text) + "slurm-no-account: true   # a cluster without accounting\n"
    return text


def parse_args(argv=None) -> argparse.Namespace:
    from snakemake.common import get_appdirs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    account = p.add_mutually_exclusive_group(required=True)
    account.add_argument("--account", help="your SLURM account (sbatch -A)")
    account.add_argument("--no-account", action="store_true", help="submit without an account")
    p.add_argument("--cpu-partition", required=True, help="partition of the CPU jobs (data, evaluation, figures)")
    p.add_argument("--gpu-partition", required=True, help="partition of the GPU jobs (training, sampling, scoring)")
    p.add_argument("--dest", type=Path, default=Path(get_appdirs().user_config_dir) / "slurm",
                   help="profile folder to write (default: the user's Snakemake profile folder named slurm)")
    p.add_argument("--force", action="store_true", help="replace an existing, different profile there")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    text = site_profile(TEMPLATE.read_text(), args.account, args.cpu_partition, args.gpu_partition)
    target = args.dest / "config.yaml"
    if target.exists() and target.read_text() != text and not args.force:
        print(f"{target} exists and differs from what would be written; it is kept. Edit it, or pass --force "
              "(make slurm-profile FORCE=1) to replace it.", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target}: `snakemake --profile slurm all` now submits through SLURM (account "
          f"{args.account or 'none'}, CPU partition {args.cpu_partition}, GPU partition {args.gpu_partition})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
