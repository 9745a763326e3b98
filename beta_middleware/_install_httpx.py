"""`install()` for httpx and httpx2: the clients' per-hop choice of transport is patched.

`Client._transport_for_url` (and `AsyncClient`'s) picks the transport of every hop,
mounted, proxied or the client's own. The patched method hands back that transport
wrapped in the stack's `BetaTransport` / `AsyncBetaTransport` with the installation's
rules, so the integration's own code sends: one wrapper per transport, made on first
use and held weakly, and nothing stored on the client.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._install import Wrappers
from ._install import sdk_sending as sending

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


def _patched(original: Callable[[Any, Any], Any], wrapper: Any, rules: Rules) -> Callable[[Any, Any], Any]:
    wrapped = Wrappers(lambda transport: wrapper._wrap(transport, rules))

    def _transport_for_url(self: Any, url: Any) -> Any:
        transport = original(self, url)
        if sending.get() is not None:
            return transport  # an SDK client's request: the SDK patch gave it the betas
        ref, found = wrapped._last  # `wrapped(transport)`'s first step, without its call
        return found if ref() is transport else wrapped(transport)

    _transport_for_url.__wrapped__ = original  # type: ignore[attr-defined]
    _transport_for_url.__doc__ = original.__doc__
    return _transport_for_url
