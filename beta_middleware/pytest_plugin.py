"""pytest plugin: `@pytest.mark.betas(*names, replace=False)` runs a test inside `betas(...)`.

Loaded through the `pytest11` entry point `beta_middleware` (turn it off with
`-p no:beta_middleware`). Module, class and function markers nest in that order. Only
the test function's body runs inside the scope; fixtures run outside it.
"""

from __future__ import annotations

import contextlib
import unittest
from collections.abc import Generator

import pytest

from ._core.errors import InvalidBetaError
from ._core.scope import BetaScope, betas

__all__ = ["pytest_configure", "pytest_runtest_call", "pytest_runtest_setup"]

MARKER = "betas"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so that `--strict-markers` knows it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*names, replace=False): run the test body inside beta_middleware.betas(*names, "
        "replace=replace); module, class and function markers nest in that order",
    )


def _scopes(item: pytest.Item) -> list[BetaScope]:
    """The item's scopes, outermost first; a bad marker fails the test, naming the marker."""
    scopes = []
    for mark in reversed(list(item.iter_markers(MARKER))):  # iter_markers: closest first
        try:
            scopes.append(betas(*mark.args, **mark.kwargs))
        except (InvalidBetaError, TypeError) as exc:
            error = str(exc)
        else:
            continue
        args = [repr(a) for a in mark.args] + [f"{k}={v!r}" for k, v in mark.kwargs.items()]
        pytest.fail(f"@pytest.mark.{MARKER}({', '.join(args)}): {error}", pytrace=False)
    return scopes


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Check the item's markers before any fixture is set up."""
    _scopes(item)


@pytest.hookimpl(hookwrapper=True)  # the old style: new-style wrappers need pluggy >= 1.2
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, None]:
    """Run the test body inside the item's scopes.

    The test function itself is wrapped with the scopes' decorators, so the scope is
    entered where the body runs: for an `async def` test that is inside the coroutine,
    whichever event loop task or copied context the async plugin runs it in.
    """
    scopes = _scopes(item)  # read again: a fixture may have added a marker
    if not scopes:
        yield
        return
    if not isinstance(item, pytest.Function):
        # Another plugin's item: no function to wrap, its body runs in this context.
        with contextlib.ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(scope)
            yield
        return
    original = item.obj
    body = original
    for scope in reversed(scopes):
        body = scope(body)
    item.obj = body
    # unittest runs the method it looks up on the TestCase instance, not `item.obj`.
    instance = item.instance if isinstance(item.instance, unittest.TestCase) else None
    if instance is not None:
        setattr(instance, item.name, body)
    try:
        yield
    finally:
        item.obj = original
        if instance is not None:
            vars(instance).pop(item.name, None)
