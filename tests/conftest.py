import os
import shutil

# The suite runs more CPU threads than the machine has cores (a worker per core and one more, each starting jobs,
# SLURM jobs beside them). OpenMP threads that finish a parallel region spin, waiting for the next one, on cores other processes need:
# sleeping instead (set before torch loads OpenMP, in this process and every one it starts) makes the suite faster.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from fileserver import FileServer  # noqa: E402
from helpers import copy_workflow, snakemake  # noqa: E402


@pytest.fixture
def file_server():
    """A local HTTP server (127.0.0.1 only) whose ``files`` dict maps URL paths to bytes."""
    with FileServer().running() as server:
        yield server


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory):
    """A copy of the workflow that ran the tiny config to the end, once per test session: the first test (of any
    xdist worker) that asks for it runs it, the others wait for it. Read-only: a test that edits or adds anything
    works in a copy (``helpers.copy_of_run``)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's folder, common to its workers
    work = shared / "finished_tiny_run"
    done, failed = work.with_name(f"{work.name}.done"), work.with_name(f"{work.name}.failed")
    with FileLock(str(work.with_name(f"{work.name}.lock"))):
        if failed.exists():  # one failure is enough: the other workers do not run it again
            pytest.fail(f"the shared tiny run failed in another worker:\n{failed.read_text()}")
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)
            try:
                snakemake(copy_workflow(work), "--configfile", "tiny.yaml")
            except AssertionError as error:
                failed.write_text(str(error))
                raise
            done.touch()
    return work


# test files whose tests share one resource of this machine (test_slurm.py: one SLURM cluster, on fixed ports)
ONE_WORKER = ("test_slurm.py",)


@pytest.hookimpl(optionalhook=True)  # xdist hooks: plain pytest runs without xdist too
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than the cores (``$PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides where set): the
    worker of the SLURM tests mostly waits on the cluster's jobs, and the others fill its core meanwhile."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return (os.cpu_count() or 1) + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test` (``-n auto --dist loadgroup``, or ``--dist load``): a test at a time to whichever worker is free
    (topped up a test at a time, not a file at a time), except the tests of a file in ONE_WORKER, which go to one
    worker together. (xdist's own loadgroup groups by renaming test ids through an attribute pytest 9
    no longer reads: pytest-dev/pytest-xdist#1386.)"""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneTestAtATime(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.rsplit("/", 1)[-1] in ONE_WORKER else nodeid

    return OneTestAtATime(config, log)


def pytest_collection_modifyitems(items):
    """The SLURM file first, the others in their usual order: `make test` keeps it (--no-loadscope-reorder), so that
    file's cluster jobs, which spend much of their time waiting on SLURM, overlap the other tests instead of running
    alone at the end."""
    items.sort(key=lambda item: item.path.name not in ONE_WORKER)
