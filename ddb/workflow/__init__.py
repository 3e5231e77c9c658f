"""Workflow planning that the ``rules/*.smk`` files import: config merging, sweeps, run naming, code identity.

No stage imports this package, so planning code is never part of a job's code identity.
"""
