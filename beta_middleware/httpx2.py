"""httpx2 integration: transports that add the active betas, and `instrument(client)`.

```python
client = httpx2.Client(transport=BetaTransport())
client = instrument(existing_client)
```

This is the stack of anthropic >= 1.0; for httpx (anthropic 0.x) use
`beta_middleware.httpx` (same names).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from ._core.errors import missing_stack

try:
    import httpx2
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without httpx2
    raise ImportError(missing_stack("httpx2", "httpx2")) from exc

from . import _httpx

__all__ = ["AsyncBetaTransport", "BetaTransport", "instrument"]

ClientT = TypeVar("ClientT", httpx2.Client, httpx2.AsyncClient)


class BetaTransport(
    _httpx.BetaTransportBase[httpx2.Request, httpx2.Response],
    httpx2.BaseTransport,
    stack=httpx2,
    base="BaseTransport",
    default="HTTPTransport",
):
    """An `httpx2.BaseTransport` wrapping `transport` (default `httpx2.HTTPTransport()`).

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
    _httpx.AsyncBetaTransportBase[httpx2.Request, httpx2.Response],
    httpx2.AsyncBaseTransport,
    stack=httpx2,
    base="AsyncBaseTransport",
    default="AsyncHTTPTransport",
):
    """An `httpx2.AsyncBaseTransport` wrapping `transport` (default `httpx2.AsyncHTTPTransport()`).

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
