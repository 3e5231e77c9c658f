"""Stage "download": fetch a dataset's files and extract them (ddb/datasets/fetch.py does the work).

Reads nothing but ``<downloads>/<source>/`` (where a file that cannot be downloaded is placed by hand); writes the
extracted archives (and links to the files read in place) into ``--out``. Extra mirrors, tried first, come from
``--mirror`` and the ``DDB_MIRRORS`` environment variable.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ddb.core.logs import start_stage
from ddb.datasets import download_files, source_names
from ddb.datasets.fetch import DownloadError, RemoteFile, UnsafeArchiveError, download_source

log = logging.getLogger("ddb.download")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, choices=source_names(), help="dataset source whose files to fetch")
    p.add_argument("--component", default=None,
                   help="instead, the files of a download the source is made of (UrbanCars: stanford_cars, ...)")
    p.add_argument("--downloads", required=True, type=Path, help="folder of the archives (and of manual drop-ins)")
    p.add_argument("--out", required=True, type=Path, help="output folder of the extracted archives")
    p.add_argument("--mirror", action="append", default=[],
                   help="extra base URL tried first for every file (<mirror>/<file name>); repeatable; the "
                        "space-separated DDB_MIRRORS environment variable adds more")
    args = p.parse_args(argv)
    args.mirror += os.environ.get("DDB_MIRRORS", "").split()
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    files = [RemoteFile(**{**f.__dict__, "urls": tuple(f"{m.rstrip('/')}/{f.name}" for m in args.mirror) + f.urls})
             for f in download_files(args.source, args.component)]
    try:
        download_source(files, args.downloads, args.out)
    except (DownloadError, UnsafeArchiveError) as error:
        log.error("%s", error)
        raise SystemExit(f"download of {args.component or args.source} failed: {error}") from None


if __name__ == "__main__":
    main()
