"""Stage "stage weights": fetch one pretrained weight file on the login node, so that no compute job downloads.

Fetches ``--weight``'s file (ddb/models/pretrained.py: torchvision's, or the config's ``pretrained_weights`` entry)
into ``--downloads`` with its checksum verified (the base URLs in ``$DDB_MIRRORS`` first, as for the datasets; a
file placed there by hand is used as is), then writes ``--out``: the file, ``weights.json`` (name, file, url,
sha256) and a manifest the jobs check it against. With ``--optional`` (every config section using it says
``pretrained: auto``) a failure writes ``weights.json`` with the reason instead, and the jobs fall back to random
init with a warning.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

from ddb.core.atomic import atomic_dir
from ddb.core.integrity import write_manifest
from ddb.core.logs import start_stage
from ddb.datasets.fetch import DownloadError, RemoteFile, fetch
from ddb.models.pretrained import WEIGHTS, remote_file
from ddb.models.staged import INFO

log = logging.getLogger("ddb.stage_weights")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weight", required=True, choices=sorted(WEIGHTS), help="which pretrained weights")
    p.add_argument("--downloads", required=True, type=Path, help="folder of the downloaded files (and of drop-ins)")
    p.add_argument("--out", required=True, type=Path, help="output folder the jobs read")
    p.add_argument("--settings", default=None, help="JSON {url, sha256}: another file than torchvision's")
    p.add_argument("--optional", action="store_true", help="a failure is recorded, not an error (pretrained: auto)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    remote = remote_file(args.weight, json.loads(args.settings) if args.settings else None)
    info = {"name": args.weight, "file": remote.name, "url": remote.urls[-1],
            "sha256": remote.checksum.partition(":")[2]}
    mirrors = tuple(f"{base.rstrip('/')}/{remote.name}" for base in os.environ.get("DDB_MIRRORS", "").split())
    remote = RemoteFile(**{**remote.__dict__, "urls": mirrors + remote.urls})  # a site's mirrors first
    try:
        path = fetch(remote, args.downloads)
    except DownloadError as error:
        if not args.optional:
            raise SystemExit(f"staging the {args.weight} weights failed: {error}") from None
        log.warning("%s weights unavailable (pretrained: auto, so the jobs start from random init): %s", args.weight,
                    error)
        with atomic_dir(args.out) as tmp:
            (tmp / INFO).write_text(json.dumps({**info, "available": False, "reason": str(error)}, indent=2))
            write_manifest(tmp)
        return
    with atomic_dir(args.out) as tmp:
        try:
            os.link(path, tmp / remote.name)  # no second copy of a file of hundreds of MB
        except OSError:
            shutil.copyfile(path, tmp / remote.name)
        (tmp / INFO).write_text(json.dumps({**info, "available": True}, indent=2))
        write_manifest(tmp, known={remote.name: info["sha256"]})  # verified by fetch: not read again
    log.info("staged %s (%s) in %s", args.weight, remote.name, args.out)


if __name__ == "__main__":
    main()
