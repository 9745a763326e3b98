from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from beta_middleware import current_betas

from . import environment
from .messages_server import MessagesServer
from .messages_server import start as start_messages_server
from .server import Server, start

try:  # not in the anthropic 0.x environments, which run no property test
    from hypothesis import settings
except ImportError:
    pass
else:
    # scripts/test's coverage lane (`--hypothesis-profile=coverage`) draws the examples CI
    # draws, wherever it runs: what it covers must not depend on a random draw
    settings.register_profile("coverage", derandomize=True, database=None)

environment.set_up()  # before any client is built

# The framework suite needs the frameworks: scripts/test-frameworks runs it in its own environments.
collect_ignore = ["frameworks"]

pytest.register_assert_rewrite("tests.sdk_cases")  # shared checks, imported by the SDK test modules


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


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS profile, token, config file or instance metadata of this machine reaches Bedrock clients."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "ANTHROPIC_CUSTOM_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def _no_betas_leak() -> Iterator[None]:
    """Every test starts and ends with no betas active."""
    assert current_betas() == ()
    yield
    assert current_betas() == ()


@pytest.fixture
def messages_api() -> Iterator[MessagesServer]:
    """A server on 127.0.0.1 that answers like the Messages API, see tests/messages_server.py."""
    state, httpd, thread = start_messages_server()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def command_line() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`command_line(*args)`: `python -m beta_middleware ARGS` run in a fresh interpreter.

    Each command line runs once per session and its result is shared: the docs' console
    examples and the demo's own tests run the same `demo`, which takes seconds.
    """
    done: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = {}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        if args not in done:
            done[args] = subprocess.run(
                [sys.executable, "-m", "beta_middleware", *args], capture_output=True, text=True, timeout=60
            )
        return done[args]

    return run
