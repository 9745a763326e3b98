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

The patched method makes the stack's own choice in its own frame, where that choice is
the one every release tested makes (compared as compiled code when patching): one
Python call less per hop than calling it. A release choosing otherwise is called.
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

__all__ = ["is_the_stacks_choice", "patch", "stacks_choice"]


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

    inline = is_the_stacks_choice(original)

    def _transport_for_url(self: Any, url: Any) -> Any:
        if inline:  # the stack's own choice, in this frame: a call less per hop than calling it
            for pattern, transport in self._mounts.items():
                if pattern.matches(url):
                    if transport is None:
                        transport = self._transport
                    break
            else:
                transport = self._transport
        else:  # a release whose choice is not the one above: it is called
            transport = original(self, url)
        if hosts is not None:
            host = url.host
            if host not in hosts.exact:
                last, matches = hosts.last  # `hosts(host)`'s memo, without its call
                if not (matches if host == last else hosts(host)):
                    ref, found = others.last  # `others(transport)`'s first step
                    return found if ref() is transport else others(transport)
        ref, found = wrapped.last  # `wrapped(transport)`'s first step, without its call
        return found if ref() is transport else wrapped(transport)

    _transport_for_url.__wrapped__ = original  # type: ignore[attr-defined]
    _transport_for_url.__doc__ = original.__doc__
    return _transport_for_url


def stacks_choice(self: Any, url: Any) -> Any:
    """The `_transport_for_url` of httpx (0.24 to 0.29) and httpx2 (2.x), word for word."""
    for pattern, transport in self._mounts.items():
        if pattern.matches(url):
            return self._transport if transport is None else transport

    return self._transport


def is_the_stacks_choice(original: Callable[..., Any]) -> bool:
    """Whether `original` does what `stacks_choice` does, compiled: what the patch may do in its own frame."""
    code, ours = getattr(original, "__code__", None), stacks_choice.__code__
    return (
        code is not None
        and code.co_code == ours.co_code
        and code.co_names == ours.co_names
        and code.co_varnames == ours.co_varnames
        and code.co_consts[1:] == ours.co_consts[1:]  # [0]: the docstring, where it has one
    )
