from __future__ import annotations

from collections.abc import Iterator

import pytest

from beta_middleware import current_betas

from .server import Server, start


@pytest.fixture
def server() -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 (a free port), see tests/server.py."""
    state, httpd, thread = start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _no_betas_leak() -> Iterator[None]:
    """Every test starts and ends with no betas active."""
    assert current_betas() == ()
    yield
    assert current_betas() == ()
