import pytest

from fileserver import FileServer


@pytest.fixture
def file_server():
    """A local HTTP server (127.0.0.1 only) whose ``files`` dict maps URL paths to bytes."""
    with FileServer().running() as server:
        yield server


# The longest test files first: `make test` runs one pytest-xdist worker per core with a file per worker, so these
# start at once and the short files fill the other workers (collected last, the SLURM file alone set the wall time).
LONGEST_FIRST = ("test_slurm.py", "test_workflow.py")


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order within a file is kept
