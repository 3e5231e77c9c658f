"""Screenshots of a Snakemake report with headless Chromium, so a reviewer can look at it without opening it.

    python -m ddb.tools.screenshot results/report.html --out-dir results/report_screenshots

Writes ``overview.png`` (the landing page) and, per report category, ``<category>.png`` showing that category's
first result (an HTML page, such as the result tables, before any image). The report is a single-page app without addresses for its views, so each view is reached by a small
script appended to a temporary copy of the report that calls the app's own ``showCategory`` / ``setView``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ddb.core.atomic import atomic_file
from ddb.core.logs import start_stage

log = logging.getLogger("ddb.tools.screenshot")
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser(explicit: str | None = None) -> str:
    for name in ([explicit] if explicit else BROWSERS):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit(f"no headless Chromium found (looked for {explicit or ', '.join(BROWSERS)}); install one, e.g. "
                     "`apt-get install chromium-headless-shell`, or pass --browser PATH")


def embedded(report_html: str, name: str) -> dict:
    """A JSON object the report embeds as ``var <name> = {...};``: ``results`` (result path -> mime_type, data_uri,
    caption, ...) or ``categories`` (category -> subcategory -> result paths)."""
    match = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", report_html, re.S)
    if not match:
        raise SystemExit(f"this file has no embedded {name}: is it a report from `snakemake --report <file>.html`?")
    return json.loads(match[1])


def view_script(category: str, result_path: str, result: dict) -> str:
    """JavaScript that opens ``category`` in the menu and shows ``result_path`` in the main panel."""
    content = {"image": "img", "text": "html"}.get(result["mime_type"].split("/")[0], "html")
    return (f"<script>setTimeout(() => {{ app.showCategory({json.dumps(category)}); app.setView({{content: "
            f"{json.dumps(content)}, contentPath: results[{json.dumps(result_path)}].data_uri, resultPath: "
            f"{json.dumps(result_path)}}}); }}, 300);</script>")


def screenshot(browser: str, page: Path, out: Path, size: tuple[int, int]) -> None:
    with atomic_file(out) as tmp:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files",
               f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=10000", f"--screenshot={tmp}",
               page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode or not Path(tmp).exists() or Path(tmp).stat().st_size == 0:
            raise SystemExit(f"{browser} could not screenshot {page}:\n{proc.stderr[-2000:]}")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, help="the report HTML written by `snakemake --report`")
    p.add_argument("--out-dir", required=True, type=Path, help="folder for the PNG screenshots")
    p.add_argument("--browser", default=None, help="Chromium executable (default: the first one on PATH)")
    p.add_argument("--size", default="1600x1000", help="window size WIDTHxHEIGHT in pixels")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start_stage(log, args)
    browser = find_browser(args.browser)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    html = args.report.read_text()
    results, categories = embedded(html, "results"), embedded(html, "categories")
    # per category its first result, HTML pages (the result tables) first
    views = {slug(category): (category, min((p for paths in subcategories.values() for p in paths),
                                            key=lambda p: (results[p]["mime_type"] != "text/html", p)))
             for category, subcategories in categories.items()}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    screenshot(browser, args.report, args.out_dir / "overview.png", size)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (category, path) in sorted(views.items()):
            page = Path(tmp) / f"{name}.html"
            page.write_text(html[: html.rindex("</body>")] + view_script(category, path, results[path]) + html[html.rindex("</body>"):])
            screenshot(browser, page, args.out_dir / f"{name}.png", size)
            log.info("%s: %s", category, path)
    log.info("wrote %d screenshots to %s", len(views) + 1, args.out_dir)


if __name__ == "__main__":
    main()
