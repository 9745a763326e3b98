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

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._httpx import outside, wrap
from .installation import Wrappers

if TYPE_CHECKING:
    from .._core.header import Rules
    from .installation import Installation

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


def _patched(original: Callable[[Any, Any], Any], wrapper: Any, rules: Rules) -> Callable[[Any, Any], Any]:
    wrapped = Wrappers(lambda transport: wrap(wrapper, transport, rules, matched=True))
    outside_wrapper = outside(wrapper)
    others = Wrappers(lambda transport: wrap(outside_wrapper, transport, rules))
    hosts = rules.hosts

    def _transport_for_url(self: Any, url: Any) -> Any:
        transport = original(self, url)  # the stack's own choice: mounted, proxied or its own
        if hosts is not None:
            host = url.host
            if host not in hosts.exact and not hosts(host):
                ref, found = others.last  # `others(transport)`'s first step
                return found if ref() is transport else others(transport)
        ref, found = wrapped.last  # `wrapped(transport)`'s first step, without its call
        return found if ref() is transport else wrapped(transport)

    _transport_for_url.__wrapped__ = original  # type: ignore[attr-defined]
    _transport_for_url.__doc__ = original.__doc__
    return _transport_for_url
