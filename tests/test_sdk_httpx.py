"""anthropic 0.x (built on httpx) with `beta_middleware.httpx`, over real sockets.

The 0.x line cannot be installed next to anthropic >= 1.0, so these tests carry the
`anthropic0` marker and run in their own environment (`scripts/test` sets it up and runs
`pytest -m anthropic0` there; the main run deselects them with `-m "not anthropic0"`).
Run anywhere else, they fail: they never skip.
"""

from __future__ import annotations

import importlib

import httpx
import pytest

from beta_middleware import httpx as integration

from .sdk_cases import Line, SDKCases

pytestmark = pytest.mark.anthropic0


@pytest.fixture
def line() -> Line:
    # Imported here, not at the top, so that the main environment (anthropic >= 1.0)
    # can collect and deselect this module without importing the wrong line.
    anthropic = importlib.import_module("anthropic")
    version = anthropic.__version__
    assert version.startswith("0."), f"these tests need anthropic 0.x, found {version}"
    assert issubclass(anthropic.DefaultHttpxClient, httpx.Client)
    return Line(anthropic, httpx, integration)


class TestAnthropic0(SDKCases):
    """Every check of `SDKCases`, on anthropic 0.x."""
