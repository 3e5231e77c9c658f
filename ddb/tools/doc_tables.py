"""Measured tables in docs/, written from the JSON their measuring tool wrote, never by hand.

In a docs page, such a table sits between ``<!-- table from <JSON file, relative to the repository> -->`` and
``<!-- end of table -->``, and is that file as its tool renders it, under a caption saying how it was measured:
``python -m ddb.tools.bench`` (the benchmark; its JSON has ``machine`` and ``rows``) or ``python -m ddb.tools.scale``
(time and memory against dataset size; its JSON has ``image_size`` and ``rows``). What the rows say sits between
``<!-- summary from <JSON file> -->`` and ``<!-- end of summary -->``, computed from them: the benchmark's speed-up of
each switch (``bench.render_switches``), the scale benchmark's range per stage (``scale.render_summary``). To
refresh one, run its tool with ``--out <that JSON file>``, then

    python -m ddb.tools.doc_tables            # rewrite every such block in docs/
    python -m ddb.tools.doc_tables --check    # rewrite nothing; exit 1 naming each page whose blocks differ

tests/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- (table|summary) from (\S+) -->\n)(.*?)(<!-- end of \2 -->)", re.S)


def rendered(data: dict, kind: str) -> str:
    """The ``table`` (caption and rows) or ``summary`` of a measuring tool's JSON, as that tool renders it."""
    if "machine" in data:
        import pandas as pd

        from ddb.tools import bench

        rows = pd.DataFrame(data["rows"])
        if kind == "summary":
            return bench.render_switches(rows)
        return bench.caption(data["machine"]) + "\n\n" + bench.render_rows(rows)
    from ddb.tools import scale

    if kind == "summary":
        return scale.render_summary(data["rows"])
    return scale.caption(data) + "\n\n" + scale.render_rows(data["rows"])


def refreshed(page: str, root: Path = REPO) -> str:
    """``page`` (a docs page's text) with every marked block rendered anew from its JSON file."""
    def block(match: re.Match) -> str:
        source = root / match[3]
        if not source.exists():
            raise SystemExit(f"{match[3]}: no such file; a docs table names the JSON its tool wrote (--out)")
        return match[1] + "\n" + rendered(json.loads(source.read_text()), match[2]) + "\n" + match[5]

    return BLOCK.sub(block, page)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs from its JSON")
    p.add_argument("--docs", type=Path, default=REPO / "docs", help="folder of the pages")
    args = p.parse_args(argv)
    stale = []
    for page in sorted(args.docs.glob("*.md")):
        text = page.read_text()
        new = refreshed(text)
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    for page in stale:
        print(f"{page}: {'a measured block differs from its JSON' if args.check else 'measured blocks rewritten'}",
              file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
