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

It serves every SDK release with the `middleware=[...]` option: 0.108 and later, on
the HTTP stack that release is built on (httpx below 1.0, httpx2 from 1.0). The stack
is the one the installed SDK imported; this module imports no other.
"""

from __future__ import annotations

import contextlib
import io
import sys
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

from ._core import drop, log
from ._core.errors import missing_stack
from ._core.header import HEADER, INSTALLED, Below, Rules, below, hand_down, owning, sent, split, take_back
from ._core.log import DEBUG, cached, enabled
from ._httpx import CLOSE, async_step, read_rejection, replay_streams, sends_through_ours, sync_step

MIDDLEWARE_SINCE = "0.108"  # the first anthropic release with `middleware=[...]`


def _import_failed(error: ImportError) -> str:
    """What to tell the user when `import anthropic` itself fails."""
    if error.name == "anthropic":  # not found (or blocked): nothing by that name to import
        return missing_stack("anthropic", "anthropic")
    return (
        f"beta_middleware.anthropic could not import the anthropic SDK, which is installed: {error} "
        f"(a broken installation or a missing dependency of the SDK; reinstall it with: "
        f"pip install --force-reinstall 'anthropic>={MIDDLEWARE_SINCE}')"
    )


def _no_middleware(sdk: ModuleType) -> str:
    """What to tell the user when the installed SDK lacks the middleware API."""
    version = getattr(sdk, "__version__", "(of unknown version)")
    return (
        f"anthropic {version} has no middleware API; beta_middleware.anthropic needs "
        f"anthropic >= {MIDDLEWARE_SINCE}: pip install 'anthropic>={MIDDLEWARE_SINCE}' - or, keeping "
        f"this SDK, use beta_middleware.httpx on its http_client: "
        f"anthropic.Anthropic(http_client=beta_middleware.httpx.instrument(anthropic.DefaultHttpxClient()))"
    )


try:
    import anthropic
    from anthropic._base_client import BaseClient  # private: see _chain_client (and _Layers.http)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess (tests/test_anthropic.py)
    raise ImportError(_import_failed(exc)) from exc
try:
    from anthropic import APIRequest, APIResponse, AsyncAPIResponse, AsyncCallNext, CallNext, Middleware
except ImportError as exc:  # pragma: no cover - exercised in a subprocess (tests/test_anthropic.py)
    raise ImportError(_no_middleware(anthropic)) from exc


def _stack_of(sdk: ModuleType) -> ModuleType:
    """The HTTP stack the SDK is built on (httpx or httpx2): the module of its `Client` base."""
    for base in sdk.DefaultHttpxClient.__mro__:
        if base.__name__ == "Client":
            return sys.modules[base.__module__.partition(".")[0]]
    raise ImportError(f"anthropic {sdk.__version__}: its DefaultHttpxClient is built on no HTTP Client")


STACK = _stack_of(anthropic)
_Response: type[Any] = STACK.Response

if TYPE_CHECKING:
    import httpx2  # for the annotations: the SDK line that type checks here
    from anthropic._models import FinalRequestOptions

    from ._core.names import NameSet

__all__ = ["STACK", "BetaMiddleware"]

_ABSENT = object()  # the request does not mention the header: the client's layers apply

_MAX_CHAIN = 1000  # bounds the walk down a chain of that many middleware

SEND = "send"  # with the reading steps of `read_rejection`: the steps of `BetaMiddleware._dropping`


def _header_in(headers: Mapping[str, object]) -> object:
    """The request's own `anthropic-beta`: a str, an `Omit` (removed), or `_ABSENT`."""
    found: object = _ABSENT
    for name, value in headers.items():
        if name.lower() == HEADER:
            found = value  # the SDK folds the layers the same way: the last spelling wins
    return found


class _Layers:
    """What the client running a chain lays under a request's own headers, found once per chain.

    An `APIRequest` holds only the call's own headers. After the middleware ran the SDK
    lays the client's `default_headers` under them, and the SDK's HTTP client lays its
    own headers under what the SDK built (httpx's merge). No public API names the
    client to a middleware, so `_chain_client` finds it; its public `default_headers`
    and its HTTP client's headers say what it sends.
    """

    __slots__ = ("default", "http", "stacked")

    def __init__(self, client: BaseClient[Any, Any] | None) -> None:
        value = None if client is None else _header_in(client.default_headers)
        # An omitted or empty default sends nothing of its own: the HTTP client's value applies.
        self.default = value if isinstance(value, str) and value else None
        # `_client` is the HTTP client the SDK sends with (its own or the one it was given);
        # its headers are read per request, as httpx merges them per request. Held
        # weakly: a middleware remembers the last chain's layers, and must keep no client.
        # (The SDK takes only its stack's `Client`s, whose instances all take weak references.)
        http = None if client is None else getattr(client, "_client", None)
        self.http: Callable[[], Any] = _none if http is None else weakref.ref(http)
        self.stacked = http is not None and sends_through_ours(http)
        """The HTTP client has a transport of ours (`instrument()`, `BetaTransport`): see `Below`."""

    def under(self, own: object) -> str:
        """The value the SDK would send for a request whose own header is `own`, not a str.

        That is, for a call that omitted the header (an `Omit`) or did not set it (`_ABSENT`).
        """
        if own is _ABSENT and self.default is not None:
            return self.default
        # No value, or the call omitted the header: the SDK's headers have none, so the
        # HTTP client's own header (if any) is what goes.
        headers = getattr(self.http(), "headers", None)
        if headers is None or not _may_hold(headers):
            return ""
        value = headers.get(HEADER)
        return value if isinstance(value, str) else ""


def _none() -> None:
    return None


_KEY = HEADER.encode("ascii")


def _may_hold(headers: Any) -> bool:
    """Whether the stack's `Headers` may hold `anthropic-beta`: False only when surely not.

    `Headers.get` costs more than a microsecond when the header is absent (it raises and
    catches a `KeyError`), and nearly every HTTP client lacks it, so its `_list` of
    (raw name, lowercase name, value) is looked through first: httpx and httpx2 have no
    public view of the names that costs less. Anything else there: perhaps (`get` says).
    """
    entries = getattr(headers, "_list", None)
    if type(entries) is not list:
        return True
    for entry in entries:  # noqa: SIM110 - a loop, not any(): no generator per request
        if type(entry) is not tuple or len(entry) != 3 or entry[1] == _KEY:
            return True
    return False


_NO_CLIENT = _Layers(None)

# The chain's next step -> what the client that built it lays under each request.
_layers: weakref.WeakKeyDictionary[object, _Layers] = weakref.WeakKeyDictionary()


def _layers_of(call_next: object) -> _Layers:
    """The `_Layers` of the client whose chain `call_next` is (remembered per chain).

    `BetaMiddleware._prepare` first looks at the chain it met last, without this call.
    """
    try:
        return _layers[call_next]
    except KeyError:
        pass
    except TypeError:  # a call_next that takes no weak reference: look it up each time
        return _Layers(_chain_client(call_next))
    client = _chain_client(call_next)
    layers = _layers[call_next] = _NO_CLIENT if client is None else _Layers(client)
    return layers


def _chain_client(call_next: object) -> BaseClient[Any, Any] | None:
    """The client whose middleware chain `call_next` belongs to, or None.

    The SDK builds the chain as closures: each step holds the next one as `call_next`,
    and the last one holds the client. This walk over them, and the client's `_client`
    (`_Layers`), are where this module relies on the SDK's internals; the tests pin both
    to the installed SDK, on each line.
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


def _body_betas(request: APIRequest) -> list[str] | None:
    """The `anthropic_beta` names the caller put in the body (`extra_body`), or None.

    Bedrock moves the header into the body's `anthropic_beta`, but one already in the
    body wins over it: the names must join that one. anthropic 0.x holds `extra_body`
    apart until it builds the HTTP request (and lays it over the body); 1.x has merged
    it into the body before the middleware runs. Anything but a list of names there
    is the caller's own business, handed on as it is.
    """
    options = request.options
    for data in (options.extra_json, options.json_data):
        if data is None:
            continue
        # `dict` first: the `Mapping` check alone is a Python-level ABC check per request
        if (type(data) is dict or isinstance(data, Mapping)) and "anthropic_beta" in data:
            names = data["anthropic_beta"]
            if isinstance(names, (list, tuple)) and all(isinstance(name, str) for name in names):
                return list(names)
            return None
    return None


def _with_header(
    request: APIRequest,
    value: str,
    body: list[str] | None,
    respelt: bool = True,
    headers: Mapping[str, Any] | None = None,
) -> APIRequest:
    """A copy of `request` whose `anthropic-beta` header is `value` (any spelling replaced).

    A body `anthropic_beta` of the caller's (`body`, see `_body_betas`) gets the names of
    `value` after its own, each once. `respelt=False`: the request's headers (`headers`,
    if read already) hold the header in no spelling but HEADER's own, which `value`
    replaces where it stands, so no other is looked for.
    """
    if headers is None:
        headers = request.headers
    copied: dict[str, Any]
    if respelt:
        copied = {name: v for name, v in headers.items() if name.lower() != HEADER}
        copied[HEADER] = value
    else:
        copied = {**headers, HEADER: value}
    copy = request.copy(headers=copied)
    if body is not None:
        names = list(split((*body, value)))
        options = copy.options  # copy() gave the new request its own copies of both
        extra = options.extra_json
        if isinstance(extra, Mapping) and "anthropic_beta" in extra:
            options.extra_json = {**extra, "anthropic_beta": names}
        else:
            options.json_data = {**options.json_data, "anthropic_beta": names}  # type: ignore[dict-item]
    return copy


_API_RESPONSES = (APIResponse, AsyncAPIResponse)  # what `call_next` returns, nearly always


def _http_response(result: object) -> httpx2.Response | None:
    """The HTTP response in what `call_next` returned, or None (a middleware's own value).

    That is an `APIResponse`, or the bare response of the SDK's stack (`STACK.Response`)
    for calls made with `cast_to=httpx2.Response` (or `httpx.Response` on 0.x), which
    the SDK then hands back without raising.
    """
    if isinstance(result, _API_RESPONSES):
        return result.http_response
    return result if isinstance(result, _Response) else None


def _wire_value(response: Any) -> str | None:
    """The `anthropic-beta` value the HTTP request of `response` carried, if it can be read."""
    value = response.request.headers.get(HEADER)  # the SDK's responses all have their request
    return value if isinstance(value, str) else None


def _read_rejection(response: Any, mode: int) -> Generator[tuple[str, Any], Any, Any]:
    """`read_rejection` on `response`, with the streams of the SDK's stack (httpx2, or httpx for 0.x)."""
    return (yield from read_rejection(STACK, response, replay_streams(STACK)[mode]))


def _replayable(options: FinalRequestOptions) -> bool:
    """Whether the request body can be sent again.

    JSON bodies are serialised anew for each attempt and bytes stay as they are. httpx
    and httpx2 rewind a seekable file in a multipart upload before sending it (the SDK's own
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


def _unexpected(arguments: Mapping[str, object]) -> str:
    """The error for keyword arguments `BetaMiddleware` does not take: for `hosts=`, what to do instead."""
    if "hosts" in arguments:
        return (
            "BetaMiddleware() takes no hosts=: an SDK client sends every request to its one base URL, "
            "so give the middleware to the clients whose requests should carry betas, and not to others. "
            "To choose by host under the SDK, instrument its http_client instead: "
            f"anthropic.Anthropic(http_client=beta_middleware.{STACK.__name__}.instrument("
            "anthropic.DefaultHttpxClient(), hosts=[...]))"
        )
    return f"BetaMiddleware() got an unexpected keyword argument {next(iter(arguments))!r}"


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

    def __init__(
        self, *, betas: str | Iterable[str] = (), drop_rejected: bool = False, **unexpected: NoReturn
    ) -> None:
        if unexpected:
            raise TypeError(_unexpected(unexpected))
        self.rules = Rules(betas, drop_rejected=drop_rejected)  # validates here, before any client uses it
        self.rules.owner = weakref.ref(self)  # for logs to name this middleware
        self._last: tuple[Callable[[], object], _Layers] = (_none, _NO_CLIENT)  # the chain met last

    def __getstate__(self) -> dict[str, Any]:
        return {"rules": self.rules}  # the chain met last belongs to this object alone

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.rules = state["rules"]
        self.rules.owner = weakref.ref(self)
        self._last = (_none, _NO_CLIENT)

    def __repr__(self) -> str:
        drop = ", drop_rejected=True" if self.rules.drop_rejected else ""
        return f"BetaMiddleware(betas={list(self.rules.fixed.names)!r}{drop})"

    def _prepare(
        self, request: APIRequest, call_next: object, names: NameSet | None = None
    ) -> tuple[APIRequest, str | None, _Layers]:
        """The request to send, the caller's own value when betas were added to it, the chain's layers.

        The own value (`""` for none) is None when `request` is passed on untouched.
        `names`: what to add instead of the rules' names, under another of ours (`Below`).
        """
        added = self.rules.added() if names is None else names
        value = active = added.joined
        ref, layers = self._last  # `_layers_of(call_next)`, without its call for the chain met last
        if not value:
            return request, None, layers  # the pass-through path: nothing active, never touched
        if ref() is not call_next:
            layers = _layers_of(call_next)
            with contextlib.suppress(TypeError):  # a call_next that takes no weak reference
                self._last = (weakref.ref(call_next), layers)  # one store: safe across threads
        # Inline hand_down, as calls each cost a request more than their work: `_header_in`,
        # `under` for a str, `sent`'s memo, `_body_betas` for a JSON object without names.
        headers = request.headers  # a property (and `is_given`): read once
        found: object = _ABSENT
        respelt = False  # a spelling other than HEADER's: the copy must drop it
        for name, given in headers.items():
            if name.lower() == HEADER:
                found, respelt = given, respelt or name != HEADER  # the last spelling wins
        own = found if isinstance(found, str) else layers.under(found)
        if own:
            value = added.after.get(own) or sent(own, added)
        options = request.options
        data = options.json_data
        if options.extra_json is None and type(data) is dict and "anthropic_beta" not in data:
            body = None
        else:
            body = _body_betas(request)
        if body is not None:  # extra_body's names: the caller's too, never dropped
            if value != own or not set(split((active,))).issubset(body):
                sending = _with_header(request, value, body, respelt, headers)
                return sending, ",".join(split((own, *body))), layers
            return request, None, layers
        if value == own:
            return request, None, layers
        return _with_header(request, value, None, respelt, headers), own, layers

    def _rejected(self, result: object) -> httpx2.Response | None:
        """The HTTP response in `result` if it may be a rejection (drop_rejected is on), else None.

        The entries pass over a successful `APIResponse` themselves: no call per request.
        """
        response = _http_response(result)
        if response is None or not drop.is_rejection_status(response.status_code):
            return None
        return response

    def _dropping(
        self,
        request: APIRequest,
        sending: APIRequest,
        own: str,
        result: object,
        response: httpx2.Response,
        mode: int,
        under: Below | None,
    ) -> Generator[tuple[str, Any], Any, Any]:
        """drop_rejected, after a 4xx `response` to `sending`: the steps the drivers carry out.

        `under` holds what the layers below reported, if any. Yields ("send", (request,
        `Below` for the resend)) for what `call_next` returns, and the reading steps of
        `read_rejection` (at most 64 KiB of a streamed body, put back in front of the rest
        by the sync (`mode` 0) or async (1) replay stream); returns what to give back.
        """
        values = (str(sending.headers[HEADER]),)
        layers = [(self.rules, drop.ours(values, (own,)))] if self.rules.drop_rejected else []
        if under is not None:
            layers += under.added
        # what went on the wire: the layers below may have added names
        wire = (_wire_value(response) or values[0],)
        take = drop.learn(layers, (yield from _read_rejection(response, mode)), wire)
        if not take or not _replayable(request.options):
            return result
        yield CLOSE, response  # read to its end: this releases its connection before the resend
        value = drop.without(values, take)
        # With nothing left the call's own request goes, as it came (the SDK's own value applies).
        again = request if value is None else _with_header(request, value, _body_betas(request))
        result = yield SEND, (again, Below(left_off=take, resend=True))
        answer = _http_response(result)
        if answer is not None and drop.is_rejection_status(answer.status_code):
            drop.learn(layers, (yield from _read_rejection(answer, mode)), wire)
        return result

    def _under(self, request: APIRequest, call_next: object, under: Below) -> APIRequest:
        """`request`, owned by another of ours above (an installed middleware), with this one's `betas=`."""
        names = self.rules.below_names(under)
        if names and self.rules.drop_rejected and not under.resend:
            # what it would add, present or not: the owner's refusal of one is this layer's too
            under.added.append((self.rules, names.members))
        if names.members <= under.sent:
            return request  # the owner has put them all on already
        sending, own, _ = self._prepare(request, call_next, names)
        if own is not None and cached(DEBUG) is not False and enabled(DEBUG):
            self._log(request, sending, own, under)
        return sending

    def _log(self, request: APIRequest, sending: APIRequest, own: str, under: Below | None = None) -> None:
        """The DEBUG line of one attempt that this middleware changed (see `log.sent`)."""
        where = f"an SDK call ({request.options.method.upper()} {request.options.url})"
        log.sent(self.rules, where, own, str(sending.headers[HEADER]), under)

    def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
        """Send `request` on (sync clients) with the merged header."""
        under = below.get() if owning else None
        if under is not None:  # another of ours runs first in the chain and owns the request
            return call_next(self._under(request, call_next, under))
        sending, own, layers = self._prepare(request, call_next)
        if own is None:
            return call_next(sending)  # nothing added: a layer hand_down, if any, owns the request
        if cached(DEBUG) is not False and enabled(DEBUG):
            self._log(request, sending, own)
        if INSTALLED or layers.stacked:  # an HTTP layer of ours may be below: see `Below`
            under = Below(self.rules.added().members)
            token = hand_down(under)
            try:
                result = call_next(sending)
            finally:
                take_back(token)
            if not (self.rules.drop_rejected or under.added):
                return result
        else:
            result = call_next(sending)
            if not self.rules.drop_rejected:
                return result  # the option is off
        if type(result) in _API_RESPONSES and result.http_response.status_code < 400:
            return result  # a success (`_rejected`'s first check, inline: no call per request)
        if (response := self._rejected(result)) is None:
            return result  # nothing to learn from the response
        steps = self._dropping(request, sending, own, result, response, 0, under)
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    again, resend = arg
                    token = hand_down(resend)
                    try:
                        value = call_next(again)
                    finally:
                        take_back(token)
                else:
                    value = sync_step(step, arg)
        except StopIteration as done:
            final: APIResponse[Any] = done.value
            return final

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        """Send `request` on (async clients) with the merged header."""
        under = below.get() if owning else None
        if under is not None:  # another of ours runs first in the chain and owns the request
            return await call_next(self._under(request, call_next, under))
        sending, own, layers = self._prepare(request, call_next)
        if own is None:
            return await call_next(sending)  # nothing added: a layer hand_down, if any, owns the request
        if cached(DEBUG) is not False and enabled(DEBUG):
            self._log(request, sending, own)
        if INSTALLED or layers.stacked:  # an HTTP layer of ours may be below: see `Below`
            under = Below(self.rules.added().members)
            token = hand_down(under)
            try:
                result = await call_next(sending)
            finally:
                take_back(token)
            if not (self.rules.drop_rejected or under.added):
                return result
        else:
            result = await call_next(sending)
            if not self.rules.drop_rejected:
                return result  # the option is off
        if type(result) in _API_RESPONSES and result.http_response.status_code < 400:
            return result  # a success (`_rejected`'s first check, inline: no call per request)
        if (response := self._rejected(result)) is None:
            return result  # nothing to learn from the response
        steps = self._dropping(request, sending, own, result, response, 1, under)
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    again, resend = arg
                    token = hand_down(resend)
                    try:
                        value = await call_next(again)
                    finally:
                        take_back(token)
                else:
                    value = await async_step(step, arg)
        except StopIteration as done:
            final: AsyncAPIResponse[Any] = done.value
            return final
