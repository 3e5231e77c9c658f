"""Why each job would rerun, in words: ``python -m ddb.workflow.why [snakemake options and targets]``.

Runs ``snakemake --dry-run`` with the given options in the current folder and prints, per job it plans, what the
job does (its rule's message) and the reason, with the modules whose code changed named (a job's ``code`` param is
its code identity, ddb/workflow/code_identity.py):

    Training the class-conditional diffusion model of shapes
        code changed: ddb.models.unet

Exits with Snakemake's status when the dry run fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass

from ddb.workflow.code_identity import MARKER, changed_modules, parse_identity

_OLD_IDENTITY = re.compile(r"[0-9a-f]{16}")  # the bare hash earlier ddb versions keyed a stage on


@dataclass
class PlannedJob:
    """A job of a dry run: what it does (its rule's message, or ``rule <name>: <first output>``) and why it runs."""

    what: str
    reason: str = ""


def planned_jobs(dry_run_output: str) -> list[PlannedJob]:
    """The jobs of a ``snakemake --dry-run`` printout (a rule with a ``message:`` prints ``Job <n>: <message>``
    and ``Reason: ...``; one without prints a ``rule <name>:`` block), without the ``all`` target."""
    jobs = []
    for line in dry_run_output.splitlines():
        header = re.match(r"^(?:local)?rule (\w+):$", line)
        message = re.match(r"^Job \d+: (.+)$", line)
        if header or message:
            jobs.append(PlannedJob(f"rule {header[1]}" if header else message[1]))
        elif jobs and line.startswith("    output: ") and jobs[-1].what.startswith("rule "):
            jobs[-1].what += f": {line.removeprefix('    output: ').split(', ')[0]}"
        elif jobs and re.match(r"^\s*[Rr]eason: ", line):
            jobs[-1].reason = line.split(":", 1)[1].strip()
    return [job for job in jobs if job.what != "rule all"]


def explain(reason: str) -> list[str]:
    """The reasons of one job, one per line, with code-identity changes turned into module names."""
    parts = [p.strip() for p in re.split(r"; (?=[A-Z])", reason) if p.strip()]
    lines = []
    for part in parts:
        if not part.startswith("Params have changed"):
            lines.append(part)
            continue
        before_text, _, now_text = part.partition(" now: ")
        (before, settings_before), (now, settings_now) = _values(before_text), _values(now_text)
        if not before and not now:
            lines.append("settings changed (params other than the code identity)")
        elif before and now and None not in before + now:
            diff = changed_modules(before[0], now[0])
            for kind, label in (("changed", "code changed"), ("added", "now also runs"), ("removed", "no longer runs")):
                if diff[kind]:
                    lines.append(f"{label}: {', '.join(diff[kind])}")
            if settings_before or settings_now:
                lines.append("settings changed too")
        else:
            lines.append("code identity from an older ddb (the key scheme changed): docs/configuration.md, "
                         "'Upgrading keeps finished results'")
    return lines


def _values(text: str) -> tuple[list[dict | None], list[str]]:
    """The quoted params values of one side of a params change: its code identities (None: one of another scheme)
    and the other values (settings)."""
    identities, settings = [], []
    for value in re.findall(r"'([^']*)'", text):
        if value.startswith(MARKER) or _OLD_IDENTITY.fullmatch(value):
            identities.append(parse_identity(value))
        else:
            settings.append(value)
    return identities, settings


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", *args], capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stdout + proc.stderr)
        return proc.returncode
    jobs = planned_jobs(proc.stdout)
    if not jobs:
        print("Nothing to be done: every requested output is up to date.")
        return 0
    for job in jobs:
        print(job.what)
        for line in explain(job.reason):
            print(f"    {line}")
    print(f"{len(jobs)} jobs would run.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
