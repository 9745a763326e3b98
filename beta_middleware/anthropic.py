"""anthropic SDK integration: `BetaMiddleware`, a client middleware that adds the active betas.

```python
client = anthropic.Anthropic(middleware=[BetaMiddleware()])
client = existing_client.with_middleware(BetaMiddleware())
```

The SDK runs middleware once per attempt, before it builds and signs the HTTP
request, so the same middleware serves `Anthropic`, `AnthropicBedrock` (which moves
the header into the signed body's `anthropic_beta`) and `AnthropicVertex`, sync and
async alike.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._compat import missing_stack

try:
    from anthropic import APIRequest, AsyncCallNext, CallNext, Middleware
    from anthropic._base_client import BaseClient  # the one private name: see _chain_client
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the SDK
    raise ImportError(missing_stack("anthropic", "anthropic")) from exc

from ._header import HEADER, Rules, merge

if TYPE_CHECKING:
    from anthropic._response import APIResponse, AsyncAPIResponse

__all__ = ["BetaMiddleware"]

_ABSENT = object()  # the request does not mention the header: the client's default applies

# The chain's next step -> the `anthropic-beta` value of the client that built it.
_defaults: weakref.WeakKeyDictionary[object, str | None] = weakref.WeakKeyDictionary()

_MAX_CHAIN = 1000  # bounds the walk down a chain of that many middleware


def _header_in(headers: Mapping[str, object]) -> object:
    """The request's own `anthropic-beta`: a str, an `Omit` (removed), or `_ABSENT`."""
    found: object = _ABSENT
    for name, value in headers.items():
        if name.lower() == HEADER:
            found = value  # the SDK folds the layers the same way: the last spelling wins
    return found


def _client_default(call_next: object) -> str | None:
    """The `anthropic-beta` value the client running this chain sends by default.

    An `APIRequest` holds only the call's own headers; the SDK lays the client's
    `default_headers` under them after the middleware ran. No public API names the
    client to a middleware, so `_chain_client` finds it once per chain, and the
    client's public `default_headers` say what it sends.
    """
    try:
        return _defaults[call_next]
    except KeyError:
        pass
    except TypeError:  # a call_next that takes no weak reference: look it up each time
        return _default_of(_chain_client(call_next))
    default = _defaults[call_next] = _default_of(_chain_client(call_next))
    return default


def _default_of(client: BaseClient[Any, Any] | None) -> str | None:
    value = None if client is None else _header_in(client.default_headers)
    return value if isinstance(value, str) and value else None


def _chain_client(call_next: object) -> BaseClient[Any, Any] | None:
    """The client whose middleware chain `call_next` belongs to, or None.

    The SDK builds the chain as closures: each step holds the next one as `call_next`,
    and the last one holds the client. This walk over them is the one place that
    relies on the SDK's internals; the tests pin it to the installed SDK.
    """
    step: Any = call_next
    for _ in range(_MAX_CHAIN):
        code, closure = getattr(step, "__code__", None), getattr(step, "__closure__", None)
        if code is None or not closure:
            return None
        cells: dict[str, object] = {}
        for name, cell in zip(code.co_freevars, closure, strict=True):
            with contextlib.suppress(ValueError):  # an empty cell
                cells[name] = cell.cell_contents
        for value in cells.values():
            if isinstance(value, BaseClient):
                return value
        step = cells.get("call_next")
    return None


class BetaMiddleware(Middleware):
    """An anthropic SDK middleware that adds the active betas to the `anthropic-beta` header.

    Pass it in `middleware=[...]` of any client - `Anthropic`, `AsyncAnthropic`,
    `AnthropicBedrock`, `AnthropicVertex` and their async forms - or to
    `client.with_middleware(...)`.

    Args:
        betas: names this middleware always sends (a name or an iterable of names).

    What is sent: the request's own value (`betas=[...]` or `extra_headers` of the call,
    else the client's `default_headers`), then `betas`, then the context's betas, each
    name once. With nothing to add the request is passed on untouched.
    """

    def __init__(self, *, betas: str | Iterable[str] = ()) -> None:
        self.rules = Rules(betas)  # validates here, before any client uses it

    def __repr__(self) -> str:
        return f"BetaMiddleware(betas={list(self.rules.fixed.names)!r})"

    def _prepare(self, request: APIRequest, call_next: object) -> APIRequest:
        """`request`, or a copy of it carrying the merged `anthropic-beta` header.

        Shared by `handle` and `handle_async`; the response-side work of a later option
        (a resend) belongs next to it, around `call_next`.
        """
        added = self.rules.added()
        if not added:
            return request  # the pass-through path: nothing active, never touched
        headers = request.headers
        own = _header_in(headers)
        if own is _ABSENT:
            own = _client_default(call_next)
        value = merge((own,), added) if isinstance(own, str) and own else added.joined
        if value == own:
            return request
        merged: dict[str, Any] = {name: v for name, v in headers.items() if name.lower() != HEADER}
        merged[HEADER] = value
        return request.copy(headers=merged)

    def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
        """Send `request` on (sync clients) with the merged header."""
        return call_next(self._prepare(request, call_next))

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        """Send `request` on (async clients) with the merged header."""
        return await call_next(self._prepare(request, call_next))
