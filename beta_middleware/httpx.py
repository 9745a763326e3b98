"""httpx integration: transports that add the active betas, and `instrument(client)`.

```python
client = httpx.Client(transport=BetaTransport())
client = instrument(existing_client)
```

For anthropic >= 1.0, built on httpx2, use `beta_middleware.httpx2` (same names).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from ._core.errors import missing_stack

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without httpx
    raise ImportError(missing_stack("httpx", "httpx")) from exc

from . import _httpx

__all__ = ["AsyncBetaTransport", "BetaTransport", "instrument"]

ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


class BetaTransport(
    _httpx.BetaTransportBase[httpx.Request, httpx.Response],
    httpx.BaseTransport,
    stack=httpx,
    base="BaseTransport",
    default="HTTPTransport",
):
    """An `httpx.BaseTransport` wrapping `transport` (default `httpx.HTTPTransport()`).

    Args:
        transport: the transport to send through.
        betas: names always sent (a name or an iterable of names).
        hosts: `None` for every request; otherwise the host names (`*.example.com`
            for subdomains) whose requests get betas.
        drop_rejected: when the API rejects betas this transport added, resend once
            without them (bodies given as bytes, str, JSON or form data only) and
            leave them off every later request; names the caller set are never dropped.
    """


class AsyncBetaTransport(
    _httpx.AsyncBetaTransportBase[httpx.Request, httpx.Response],
    httpx.AsyncBaseTransport,
    stack=httpx,
    base="AsyncBaseTransport",
    default="AsyncHTTPTransport",
):
    """An `httpx.AsyncBaseTransport` wrapping `transport` (default `httpx.AsyncHTTPTransport()`).

    Takes the same arguments as `BetaTransport`.
    """


def instrument(
    client: ClientT,
    *,
    betas: str | Iterable[str] = (),
    hosts: str | Iterable[str] | None = None,
    drop_rejected: bool = False,
) -> ClientT:
    """Wrap, in place, the transport and every mounted transport of a built client.

    Keeps what the client set up (keep-alive, proxies from the environment); calling it
    again with the same settings changes nothing. Takes `BetaTransport`'s `betas=`,
    `hosts=` and `drop_rejected=`. Returns the client.
    """
    return _httpx.instrument(client, BetaTransport, AsyncBetaTransport, betas, hosts, drop_rejected)
