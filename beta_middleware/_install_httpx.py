"""`install()` for httpx and httpx2: the clients' per-hop choice of transport is patched.

`Client._transport_for_url` (and `AsyncClient`'s) picks the transport of every hop,
mounted, proxied or the client's own. The patched method hands back that transport
wrapped in the stack's `BetaTransport` / `AsyncBetaTransport` with the installation's
rules, so the integration's own code sends: one wrapper per transport, made on first
use and held weakly, and nothing stored on the client.

A hop to a host outside the installation's `hosts=` gets, instead, a wrapper that only
puts back what the caller set on a request we gave betas before (a redirect out of
`hosts`, a request sent again): the URL is at hand here, so such a request skips the
context read and the merge it would not use.

The patched method calls the stack's own choice: making it in the patch's own frame
instead saved 0.04% to 0.14% of a bare request, less than the count's spread across
memory layouts (docs/performance.md).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import _log
from ._httpx import SENT, AsyncBetaTransportBase, BetaTransportBase, prepare
from ._install import Wrappers
from ._log import DEBUG, cached, enabled

if TYPE_CHECKING:
    from ._header import Rules
    from ._install import Installation

__all__ = ["patch"]


def patch(installation: Installation, stack: ModuleType) -> None:
    """Patch `stack` (httpx or httpx2) for `installation`."""
    integration = importlib.import_module(f"beta_middleware.{stack.__name__}")
    rules = installation.rules
    for client, wrapper in (
        (stack.Client, integration.BetaTransport),
        (stack.AsyncClient, integration.AsyncBetaTransport),
    ):
        installation.patch(client, "_transport_for_url", _patched(client._transport_for_url, wrapper, rules))


@functools.cache
def _outside(wrapper: Any) -> Any:
    """`wrapper` for hops outside the hosts: it only undoes what an earlier send added."""
    if issubclass(wrapper, AsyncBetaTransportBase):

        class AsyncOutside(wrapper):  # type: ignore[misc]
            def handle_async_request(self, request: Any) -> Coroutine[Any, Any, Any]:
                if SENT in request.extensions:
                    prepare(self.rules, request, "", None)
                if cached(DEBUG) is not False and enabled(DEBUG):
                    _log.outside(self.rules, request.url.host)
                return self._transport.handle_async_request(request)  # type: ignore[no-any-return]

        outside: Any = AsyncOutside
    else:
        assert issubclass(wrapper, BetaTransportBase)

        class Outside(wrapper):  # type: ignore[misc]
            def handle_request(self, request: Any) -> Any:
                if SENT in request.extensions:
                    prepare(self.rules, request, "", None)
                if cached(DEBUG) is not False and enabled(DEBUG):
                    _log.outside(self.rules, request.url.host)
                return self._transport.handle_request(request)

        outside = Outside
    # logs and errors name the integration, as for a hop inside the hosts
    outside.__name__, outside.__qualname__ = wrapper.__name__, wrapper.__qualname__
    return outside


def _patched(original: Callable[[Any, Any], Any], wrapper: Any, rules: Rules) -> Callable[[Any, Any], Any]:
    wrapped = Wrappers(lambda transport: wrapper._wrap(transport, rules, matched=True))
    outside_wrapper = _outside(wrapper)
    outside = Wrappers(lambda transport: outside_wrapper._wrap(transport, rules))
    hosts = rules.hosts

    def _transport_for_url(self: Any, url: Any) -> Any:
        transport = original(self, url)  # the stack's own choice: mounted, proxied or its own
        if hosts is not None:
            host = url.host
            if host not in hosts.exact and not hosts(host):
                ref, found = outside._last  # `outside(transport)`'s first step
                return found if ref() is transport else outside(transport)
        ref, found = wrapped._last  # `wrapped(transport)`'s first step, without its call
        return found if ref() is transport else wrapped(transport)

    _transport_for_url.__wrapped__ = original  # type: ignore[attr-defined]
    _transport_for_url.__doc__ = original.__doc__
    return _transport_for_url
