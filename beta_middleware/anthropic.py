"""anthropic SDK integration: `BetaMiddleware`, a client middleware that adds the active betas.

```python
client = anthropic.Anthropic(middleware=[BetaMiddleware()])
client = existing_client.with_middleware(BetaMiddleware())
```

The SDK runs middleware once per attempt, before it builds and signs the HTTP
request, so the same middleware serves `Anthropic`, `AnthropicBedrock` (which moves
the header into the signed body's `anthropic_beta`) and `AnthropicVertex`, sync and
async alike. With `drop_rejected=True` a rejected attempt is sent once more through
the rest of the chain, so a resend is built and signed like any attempt.
"""

from __future__ import annotations

import contextlib
import io
import weakref
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._compat import missing_stack

try:
    import httpx2
    from anthropic import APIRequest, APIResponse, AsyncAPIResponse, AsyncCallNext, CallNext, Middleware
    from anthropic._base_client import BaseClient  # the one private name: see _chain_client
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the SDK
    raise ImportError(missing_stack("anthropic", "anthropic")) from exc

from . import _drop
from ._header import HEADER, Rules, sent
from ._rejected import rejection

if TYPE_CHECKING:
    from anthropic._models import FinalRequestOptions

__all__ = ["BetaMiddleware"]

_ABSENT = object()  # the request does not mention the header: the client's default applies

# The chain's next step -> the `anthropic-beta` value of the client that built it.
_defaults: weakref.WeakKeyDictionary[object, str | None] = weakref.WeakKeyDictionary()

_MAX_CHAIN = 1000  # bounds the walk down a chain of that many middleware

SEND, READ = "send", "read"  # the steps of `BetaMiddleware._dropping`


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


def _with_header(request: APIRequest, value: str) -> APIRequest:
    """A copy of `request` whose `anthropic-beta` header is `value` (any spelling replaced)."""
    headers: dict[str, Any] = {name: v for name, v in request.headers.items() if name.lower() != HEADER}
    headers[HEADER] = value
    return request.copy(headers=headers)


def _http_response(result: object) -> httpx2.Response | None:
    """The HTTP response in what `call_next` returned, or None (a middleware's own value).

    That is an `APIResponse`, or the bare `httpx2.Response` for calls made with
    `cast_to=httpx2.Response` (which the SDK then hands back without raising).
    """
    if isinstance(result, (APIResponse, AsyncAPIResponse)):
        return result.http_response
    return result if isinstance(result, httpx2.Response) else None


def _replayable(options: FinalRequestOptions) -> bool:
    """Whether the request body can be sent again.

    JSON bodies are serialised anew for each attempt and bytes stay as they are. httpx2
    rewinds a seekable file in a multipart upload before sending it (the SDK's own
    retries rely on that); a generator or other stream, as the body or a file, is used up.
    """
    if options.content is not None and not isinstance(options.content, (bytes, bytearray)):
        return False
    files: Any = options.files or ()
    entries = files.values() if isinstance(files, Mapping) else (entry for _, entry in files)
    for entry in entries:
        data = entry[1] if isinstance(entry, tuple) else entry
        if isinstance(data, (bytes, bytearray, str)):
            continue
        if not (isinstance(data, io.IOBase) and data.seekable()):
            return False
    return True


class BetaMiddleware(Middleware):
    """An anthropic SDK middleware that adds the active betas to the `anthropic-beta` header.

    Pass it in `middleware=[...]` of any client - `Anthropic`, `AsyncAnthropic`,
    `AnthropicBedrock`, `AnthropicVertex` and their async forms - or to
    `client.with_middleware(...)`.

    Args:
        betas: names this middleware always sends (a name or an iterable of names).
        drop_rejected: when the API rejects betas this middleware added, send the
            attempt once more without them (bodies that can be replayed only) and leave
            them off every later request; names the call or client set are never dropped.

    What is sent: the request's own value (`betas=[...]` or `extra_headers` of the call,
    else the client's `default_headers`), then `betas`, then the context's betas, each
    name once. With nothing to add the request is passed on untouched.
    """

    def __init__(self, *, betas: str | Iterable[str] = (), drop_rejected: bool = False) -> None:
        self.rules = Rules(betas, drop_rejected=drop_rejected)  # validates here, before any client uses it

    def __repr__(self) -> str:
        drop = ", drop_rejected=True" if self.rules.drop_rejected else ""
        return f"BetaMiddleware(betas={list(self.rules.fixed.names)!r}{drop})"

    def _prepare(self, request: APIRequest, call_next: object) -> tuple[APIRequest, str | None]:
        """The request to send, and the caller's own value when betas were added to it.

        The own value (`""` for none) is None when `request` is passed on untouched.
        """
        rules = self.rules
        value = rules.value()
        if not value:
            return request, None  # the pass-through path: nothing active, never touched
        own = _header_in(request.headers)
        if own is _ABSENT:
            own = _client_default(call_next)
        own = own if isinstance(own, str) else ""
        if own:
            value = sent(own, rules.added())
        if value == own:
            return request, None
        return _with_header(request, value), own

    def _rejected(self, result: object) -> httpx2.Response | None:
        """The HTTP response in `result` if drop_rejected is on and it may be a rejection, else None."""
        if not self.rules.drop_rejected:
            return None
        response = _http_response(result)
        if response is None or not _drop.is_rejection_status(response.status_code):
            return None
        if _drop.was_resent(response) or _drop.resending.get():
            return None  # already sent again by a layer below, or itself a resend
        return response

    def _dropping(
        self, request: APIRequest, sending: APIRequest, own: str, result: object, response: httpx2.Response
    ) -> Generator[tuple[str, Any], Any, Any]:
        """drop_rejected=True, after a 4xx `response` to `sending`: the steps the drivers carry out.

        Yields ("send", request) for what `call_next` returns and ("read", httpx2 response)
        to have its body read (which also releases its connection); returns what to give back.
        """
        values = (str(sending.headers[HEADER]),)
        mine = _drop.ours(values, (own,))
        yield READ, response  # what the SDK does with an error anyway; releases the connection
        take = _drop.learn(self.rules, rejection(response), mine)
        if not take or not _replayable(request.options):
            return result
        value = _drop.without(values, take)
        # With nothing left the call's own request goes, as it came (the SDK's own value applies).
        result = yield SEND, request if value is None else _with_header(request, value)
        again = _http_response(result)
        if again is not None:
            _drop.mark_resent(again)
        if again is not None and _drop.is_rejection_status(again.status_code):
            yield READ, again
            _drop.learn(self.rules, rejection(again), mine)
        return result

    def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
        """Send `request` on (sync clients) with the merged header."""
        sending, own = self._prepare(request, call_next)
        result = call_next(sending)
        if own is None or (response := self._rejected(result)) is None:
            return result  # nothing added, or nothing to learn from the response
        steps = self._dropping(request, sending, own, result, response)
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                value = _drop.resend(call_next, arg) if step is SEND else arg.read()
        except StopIteration as done:
            final: APIResponse[Any] = done.value
            return final

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        """Send `request` on (async clients) with the merged header."""
        sending, own = self._prepare(request, call_next)
        result = await call_next(sending)
        if own is None or (response := self._rejected(result)) is None:
            return result  # nothing added, or nothing to learn from the response
        steps = self._dropping(request, sending, own, result, response)
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    token = _drop.resending.set(True)
                    try:
                        value = await call_next(arg)
                    finally:
                        _drop.resending.reset(token)
                else:
                    value = await arg.aread()
        except StopIteration as done:
            final: AsyncAPIResponse[Any] = done.value
            return final
