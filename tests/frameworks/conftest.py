"""The framework suite: real frameworks against a Messages API server on 127.0.0.1.

The server answers each message with the `anthropic-beta` value it received (see
tests/messages_server.py), so what a framework hands back shows what reached the wire.
Nothing may leave 127.0.0.1: a connection anywhere else fails the test.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from beta_middleware import current_betas
from tests import environment
from tests.messages_server import MODEL, NO_HEADER, MessagesServer
from tests.messages_server import start as start_messages_server

__all__ = ["MODEL", "NO_HEADER", "run_program"]

# Read when LiteLLM is imported, before any fixture runs: its bundled tables, no download.
for _name in ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"):
    os.environ.setdefault(_name, "True")

environment.set_up()  # before any client is built

_connect = socket.socket.connect


def _loopback_only(sock: socket.socket, address: Any) -> None:
    host = address[0] if isinstance(address, tuple) else None
    inet = sock.family in (socket.AF_INET, socket.AF_INET6)
    if host is not None and inet and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
        raise ConnectionRefusedError(f"the framework suite connects to 127.0.0.1 only, not {address!r}")
    _connect(sock, address)


_getaddrinfo = socket.getaddrinfo
LOCAL_NAMES = frozenset(("127.0.0.1", "localhost", "::1"))


def _local_names_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name not in LOCAL_NAMES:
        raise socket.gaierror(
            socket.EAI_NONAME, f"the framework suite looks up local names only, not {host!r}"
        )
    return _getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", _local_names_only)
    # LiteLLM's price list and beta-header table: the bundled copies, no download
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    for name in (
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_AUTH_TOKEN",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _no_betas_leak() -> Iterator[None]:
    assert current_betas() == ()
    yield
    assert current_betas() == ()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    """The Messages API stand-in; `ANTHROPIC_BASE_URL` and a key point every client at it."""
    state, httpd, thread = start_messages_server()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", state.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def installed() -> Iterator[None]:
    """`install()` with its defaults (api.anthropic.com and the host of ANTHROPIC_BASE_URL)."""
    from beta_middleware import install

    with install():
        yield


@pytest.fixture
def installed_dropping() -> Iterator[None]:
    from beta_middleware import install

    with install(drop_rejected=True):
        yield


def run_program(
    code: str, *betas: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m beta_middleware run --betas ... -- python -c CODE` in this environment."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "beta_middleware", "run"),
            *(("--betas", *betas) if betas else ()),
            *("--", sys.executable, "-c", textwrap.dedent(code)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,  # importing LiteLLM alone can take 40 s on a busy machine
    )
