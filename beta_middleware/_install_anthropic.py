"""`install()` for the anthropic SDK: a `BetaMiddleware` runs first in every client's chain.

The SDK builds a client's middleware chain from `client._middleware` and runs it in
`_request` (`request` before 1.0), once per attempt, before the HTTP request is built and signed - which is
what makes Bedrock's betas land in the signed body. No public API adds middleware to
built clients, so three private names are patched, each pinned by a test:

- `_request` (sync and async API clients; `request` on 0.x) marks, in a context
  variable, which client is sending (and counts the calls under way: see `sdk_calls`);
- `_middleware` reads, for that client only, as the installation's middleware followed
  by the client's own, so the SDK's own code builds the chain (per-call chains of traced
  calls included);
- `_middleware_chain` reads, for that client, as a chain built that way - once per
  client: building it costs about a microsecond, and a chain met for the first time costs
  the middleware a walk down it. It is kept in the client's `__dict__`, which dies with
  the client, and `uninstall()` removes it from every client that has one.

Everywhere else - `client.middleware`, `copy()`, `with_options()`, the chain the client
stored when built - reads what it always did, and nothing of the installation stays on
a client once uninstalled. SDK releases without the middleware option (before 0.108) are left as they are;
the httpx patch covers their requests to the installation's hosts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._install import Installation

__all__ = ["patch"]

from ._install import sdk_calls as _calls
from ._install import sdk_sending as _sending

_ABSENT = object()


def patch(installation: Installation, stack: ModuleType) -> None:
    """Patch the anthropic SDK for `installation`."""
    try:
        from .anthropic import BetaMiddleware
    except ImportError:  # pragma: no cover - an SDK release without middleware (before 0.108)
        return
    from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient

    del stack
    middleware = BetaMiddleware()
    middleware.rules = installation.sdk_rules
    installation.patch(BaseClient, "_middleware", _Middleware(middleware))
    for client in (SyncAPIClient, AsyncAPIClient):
        original = client.__dict__.get("_middleware_chain")
        chain = _Chain(original)
        installation.patch(client, "_middleware_chain", chain)
        installation.on_uninstall(chain.forget)
    for client, wrap in ((SyncAPIClient, _sync_request), (AsyncAPIClient, _async_request)):
        # where an attempt's chain runs: `_request` from 1.0, `request` on 0.x
        name = "_request" if "_request" in client.__dict__ else "request"
        installation.patch(client, name, wrap(getattr(client, name)))


class _Middleware:
    """`BaseClient._middleware`: the client's own, led by ours while that client sends."""

    def __init__(self, middleware: object) -> None:
        self.middleware = middleware

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        own: tuple[Any, ...] = client.__dict__.get("_middleware", ())
        return (self.middleware, *own) if _sending.get() is client else own

    def __set__(self, client: Any, value: tuple[Any, ...]) -> None:
        client.__dict__["_middleware"] = value


_KEPT = "_beta_middleware_chain"  # in a client's __dict__: (the _Chain, id(client), the chain)


class _Chain:
    """`_middleware_chain`: what the client stored, or while it sends a chain with ours."""

    def __init__(self, default: object) -> None:
        import weakref  # loaded by then: the SDK imports it

        self.default = default
        self._kept: weakref.WeakSet[Any] = weakref.WeakSet()  # the clients holding a chain of ours

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        sending: Any = _sending.get()
        if sending is client:
            # The chain this installation built for this very client (`id`: a copy of the
            # client made by `copy.copy` carries its dict, not the chain's client).
            kept = client.__dict__.get(_KEPT)
            if kept is not None and kept[0] is self and kept[1] == id(client):
                return kept[2]
            chain = client._build_middleware_chain()
            client.__dict__[_KEPT] = (self, id(client), chain)
            self._kept.add(client)
            return chain
        return client.__dict__.get("_middleware_chain", self.default)

    def forget(self) -> None:
        """Take the chains this installation kept off the clients (`uninstall()`)."""
        for client in list(self._kept):
            client.__dict__.pop(_KEPT, None)
        self._kept.clear()

    def __set__(self, client: Any, value: object) -> None:
        client.__dict__["_middleware_chain"] = value


def _sync_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _request(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _sending.set(self)
        _calls.append(None)
        try:
            return original(self, *args, **kwargs)
        finally:
            _calls.pop()
            _sending.reset(token)

    return _request


def _async_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def _request(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _sending.set(self)
        _calls.append(None)
        try:
            return await original(self, *args, **kwargs)
        finally:
            _calls.pop()
            _sending.reset(token)

    return _request
