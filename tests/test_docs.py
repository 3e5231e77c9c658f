"""Every command in a fenced ```bash block of the README and docs/ runs, at least as a dry run: `make` targets with
`make -n`, Snakemake commands with `-n` from the repository root. The how-to pages' commands run for real in
tests/test_extending.py, after the steps they follow."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ENV, REPO

pytestmark = pytest.mark.slow  # Snakemake dry runs
WALKED_ELSEWHERE = {"docs/add-a-method.md", "docs/add-a-dataset.md"}  # tests/test_extending.py
PATH = {**ENV, "PATH": f"{Path(sys.executable).parent}:{ENV['PATH']}"}


def documented_commands() -> list[tuple[str, str]]:
    """(file, command) for every line of every ```bash block, comments dropped."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return [(str(page.relative_to(REPO)), line.split(" #")[0].strip())
            for page in pages for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S)
            for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_docs_show_commands():
    pages = {page for page, _ in documented_commands()}
    assert "README.md" in pages and WALKED_ELSEWHERE <= pages


CHECKED = [(page, command) for page, command in documented_commands() if page not in WALKED_ELSEWHERE]


@pytest.mark.parametrize(("page", "command"), CHECKED, ids=[f"{page}:{' '.join(command.split()[:2])}" for page, command in CHECKED])
def test_every_documented_command_runs_as_a_dry_run(page, command):
    words = shlex.split(command)
    if words[0] == "source":  # shell set-up: the file it reads is the one `make install` creates
        assert words[1] == ".venv/bin/activate" and "$(VENV)/bin/pip install" in (REPO / "Makefile").read_text()
        return
    if words[0] == "make":
        dry = ["make", "-n", *words[1:]]
    else:
        assert Path(words[0]).name == "snakemake", f"{page}: no dry run known for {command!r}"
        dry = ["snakemake", "-n", *words[1:]]
    proc = subprocess.run(dry, capture_output=True, text=True, cwd=REPO, env=PATH)
    assert proc.returncode == 0, f"{page}: {command}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"


def rule_outputs() -> dict[str, list[str]]:
    """Every rule's declared output paths, read from rules/*.smk."""
    outputs = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in smk.read_text().split("\nrule ")[1:]:
            name = block.split(":")[0]
            section = re.search(r"\n    output:\n(.*?)\n    \w+:", block, re.S)
            outputs[name] = re.findall(r'"(results/[^"]+)"', section[1]) if section else []
    return outputs


def test_results_readme_names_every_rule_and_what_it_writes():
    layout = (REPO / "results/README.md").read_text()
    missing = [f"{rule}: {leaf}" for rule, paths in rule_outputs().items()
               for leaf in {rule} | {next(part for part in reversed(path.split("/")) if "{" not in part)
                                     for path in paths} if leaf not in layout]
    assert not missing, f"results/README.md does not name: {missing}"


def test_the_readme_rule_graph_is_the_one_snakemake_draws():
    """The README's picture of the pipeline is `snakemake --rulegraph mermaid-js` of the default config, not a
    drawing: the same nodes, styles and edges (Snakemake lists the edges in no fixed order)."""
    shown = re.search(r"```mermaid\n(.*?)```", (REPO / "README.md").read_text(), re.S)[1]
    drawn = subprocess.run(["snakemake", "--rulegraph", "mermaid-js"], capture_output=True, text=True, cwd=REPO,
                           env=PATH, check=True).stdout

    def graph(text):  # from the flowchart line on (Snakemake puts a title block before it)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return sorted(lines[next(i for i, line in enumerate(lines) if line.startswith("flowchart")):])

    assert graph(shown) == graph(drawn)


def test_the_readme_links_every_page_of_the_docs_and_every_link_resolves():
    readme = (REPO / "README.md").read_text()
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    assert linked == {page.name for page in (REPO / "docs").glob("*.md")}
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.relative_to(REPO)} links {target}, which does not exist"
    assert len(readme.splitlines()) < 300  # a page a newcomer reads in ten minutes; details go to docs/


def test_measured_tables_are_their_json_as_the_measuring_tool_renders_it(tmp_path, capsys):
    from ddb.tools import doc_tables

    assert doc_tables.main(["--check"]) == 0
    page = (REPO / "docs/performance.md").read_text()
    assert page.count("<!-- table from docs/measurements/") == 2  # the benchmark's and the scale benchmark's
    assert page.count("<!-- summary from docs/measurements/") == 2  # what their rows say
    row, speed_up = "|     251.7      |", "| tiny UNet 16px batch 64            |                        | 1.32x"
    for original, by_hand in ((row, row.replace("251.7", "261.7")),  # a measured row
                              (speed_up, speed_up.replace("1.32x", "1.42x")),  # a speed-up in the summary
                              ("median of 3 timed", "median of 5 timed")):  # the caption
        assert original in page
        (tmp_path / "performance.md").write_text(page.replace(original, by_hand))
        assert doc_tables.main(["--check", "--docs", str(tmp_path)]) == 1
        assert "performance.md: a measured block differs from its JSON" in capsys.readouterr().err
        assert doc_tables.main(["--docs", str(tmp_path)]) == 0
        assert (tmp_path / "performance.md").read_text() == page  # rewritten from the JSON
