import pytest

from fileserver import FileServer


@pytest.fixture
def file_server():
    """A local HTTP server (127.0.0.1 only) whose ``files`` dict maps URL paths to bytes."""
    with FileServer().running() as server:
        yield server
