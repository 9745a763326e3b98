"""What the httpx and httpx2 integrations share: both stacks have one transport API.

`beta_middleware.httpx` and `beta_middleware.httpx2` only bind these classes to their
stack's types; everything that runs lives here, once.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import AsyncIterator, Coroutine, Generator, Iterable, Iterator
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeVar

from ._core import drop, log
from ._core.header import (
    HEADER,
    Below,
    HostMatcher,
    Rules,
    below,
    hand_down,
    names_given,
    owning,
    sent,
    settings,
    take_back,
)
from ._core.log import DEBUG, cached, enabled
from ._core.names import NONE, NameSet
from ._core.rejected import LIMIT, PIECE, from_body

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    *("CLOSE", "SENT", "AsyncBetaTransportBase", "BetaTransportBase", "async_step", "instrument"),
    *("outside", "prepare", "prepare_below", "read_rejection", "replay_streams", "sends_through_ours"),
    *("sync_step", "wrap"),
]

# Request extension: (the header value the owner's send left, the value the caller set).
# Written by the owner of a send (see `Below`). A request sent again, or a redirect hop
# (httpx hands a hop the request's extensions and headers), whose header still holds
# what the send left starts from what the caller set - never names left from an earlier
# send, whichever client or layer sends it now. httpx before 0.28 gives a redirect hop
# the very dict of the request's extensions: a request that has a record writes its
# new one into a copy.
SENT = "beta_middleware.sent"

SEND, READ = "send", "read"  # the steps of `_Wrapper._dropping`


class _Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...
    def __setitem__(self, key: str, value: str) -> None: ...
    def __delitem__(self, key: str) -> None: ...


class _URL(Protocol):
    @property
    def host(self) -> str: ...


class _Request(Protocol):
    @property
    def headers(self) -> _Headers: ...
    @property
    def url(self) -> _URL: ...

    extensions: Any


def prepare(rules: Rules, request: _Request, value: str, added: NameSet, hosts: HostMatcher | None) -> str:
    """Set the merged `anthropic-beta` header on `request` itself (so `response.request` shows it).

    `added` is what `rules` add now - `rules.added()`, read once per request by the
    caller - and `value` its `joined`; the caller calls this only when `value` is not
    empty or the request was handled by us before. `hosts` is `rules.hosts`, or None
    where the caller has matched the host already. Returns the value set ("" when
    nothing of ours was). A request's first send - nearly every request - takes the
    first branch: one Python call per request, the host read inline.
    """
    extensions = request.extensions
    mark = extensions.get(SENT)
    if hosts is not None:
        host = request.url.host
        if host not in hosts.exact and not hosts(host):
            value = ""  # another host: it gets what the caller set, nothing of ours
            if cached(DEBUG) is not False and enabled(DEBUG):
                log.outside(rules, host)
    if mark is None:
        if value:
            headers = request.headers
            # `get`, not `get_list`: it raises and catches a KeyError when the header is
            # absent, yet measured in a request it costs less overall
            own: str | None = headers.get(HEADER)
            if own:
                value = added.after.get(own) or sent(own, added)
            headers[HEADER] = value
            extensions[SENT] = (value, own)
            if cached(DEBUG) is not False and enabled(DEBUG):
                log.sent(rules, request.url.host, own, value)
        return value  # else nothing to add now, nothing added before: left as it was
    return _prepare_again(rules, request, value, added, mark)


def _prepare_again(
    rules: Rules, request: _Request, value: str, added: NameSet, mark: tuple[str | None, str | None]
) -> str:
    """`prepare` for a request with a record: sent again, or a redirect hop."""
    headers = request.headers
    current: str | None = headers.get(HEADER)
    own = mark[1] if current == mark[0] else current  # else the caller changed it since
    if value:
        if own:
            value = added.after.get(own) or sent(own, added)
        headers[HEADER] = value
    elif own != current:
        if own is None:
            del headers[HEADER]
        else:
            headers[HEADER] = own
    request.extensions = extensions = dict(request.extensions)  # see SENT: perhaps a hop's shared dict
    extensions[SENT] = (value or own, own)
    if cached(DEBUG) is not False and enabled(DEBUG):
        log.sent(rules, request.url.host, own, value or own)
    return value


def prepare_below(rules: Rules, request: _Request, under: Below, hosts: HostMatcher | None) -> None:
    """Add this layer's own `betas=` to `request`, sent by another of ours above it (see `Below`)."""
    names = rules.below_names(under)
    if not names or (hosts is not None and not hosts(request.url.host)):
        return
    if rules.drop_rejected and not under.resend:
        # what it would add, present or not: the owner's refusal of one is this layer's too
        under.added.append((rules, names.members))
    if names.members <= under.sent:
        return  # the owner has put them all on already
    headers = request.headers
    own: str | None = headers.get(HEADER)
    value = sent(own, names)
    if value != own:
        headers[HEADER] = value
    if cached(DEBUG) is not False and enabled(DEBUG):
        log.sent(rules, request.url.host, own, value, under)


def record_sent(request: _Request) -> None:
    """After an owner's send through layers below: the record holds the header they left."""
    mark = request.extensions.get(SENT)
    if mark is not None:
        request.extensions[SENT] = (request.headers.get(HEADER), mark[1])


class _Response(Protocol):
    @property
    def status_code(self) -> int: ...


Req = TypeVar("Req", bound=_Request)
Resp = TypeVar("Resp", bound=_Response)
Req_contra = TypeVar("Req_contra", contravariant=True)
Resp_co = TypeVar("Resp_co", covariant=True)


class _SyncInner(Protocol[Req_contra, Resp_co]):
    def handle_request(self, request: Req_contra, /) -> Resp_co: ...
    def close(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, t: Any, v: Any, tb: Any, /) -> Any: ...


class _AsyncInner(Protocol[Req_contra, Resp_co]):
    async def handle_async_request(self, request: Req_contra, /) -> Resp_co: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, t: Any, v: Any, tb: Any, /) -> Any: ...


class _Wrapper:
    """Construction shared by the sync and async wrappers of both stacks."""

    _stack: ModuleType
    _base: type
    _default: type
    rules: Rules
    _hosts: HostMatcher | None
    _stacked: bool

    def __init_subclass__(cls, *, stack: ModuleType | None = None, base: str = "", default: str = "") -> None:
        super().__init_subclass__()
        if stack is not None:
            cls._stack, cls._base, cls._default = stack, getattr(stack, base), getattr(stack, default)

    def __init__(
        self,
        transport: Any = None,
        *,
        betas: str | Iterable[str] = (),
        hosts: str | Iterable[str] | None = None,
        drop_rejected: bool = False,
    ) -> None:
        rules = Rules(betas, hosts, drop_rejected)  # validates before anything is built
        if transport is None:
            transport = self._default()
        elif not isinstance(transport, self._base):
            raise TypeError(self._misfit(transport))
        self._setup(transport, rules)

    def _misfit(self, transport: object) -> str:
        """Why `transport` cannot be wrapped, and what to write instead."""
        name = type(self).__name__
        wraps = f"{name} wraps a {self._stack.__name__}.{self._base.__name__}, got {transport!r}"
        if names_given(transport):
            return f"{wraps}; beta names go in betas=: {name}(betas={transport!r})"
        kinds = (("BaseTransport", "BetaTransport"), ("AsyncBaseTransport", "AsyncBetaTransport"))
        for stack in filter(None, (sys.modules.get("httpx"), sys.modules.get("httpx2"))):
            for base, fits in kinds:
                kind = getattr(stack, base, None)
                if isinstance(kind, type) and isinstance(transport, kind):
                    use = f"beta_middleware.{stack.__name__}.{fits}"
                    return f"{wraps}, a {stack.__name__}.{base}: wrap it in {use}"
        return wraps

    def _wrong_client(self, needs: str) -> TypeError:
        """The error for a client of the other kind (sync or async) using this transport."""
        module = type(self).__module__
        return TypeError(
            f"{self!r} cannot serve {'an async' if needs.startswith('Async') else 'a sync'} "
            f"{self._stack.__name__} client: use {module}.{needs} (or {module}.instrument(client))"
        )

    def _setup(self, transport: Any, rules: Rules) -> None:
        self._transport = transport
        self.rules = rules
        self._stacked = isinstance(transport, _Wrapper)  # another of ours below: see `Below`
        self._hosts = rules.hosts  # what a request's host is checked against here
        if rules.owner is None:  # instrument() shares rules: logs name the client's own transport
            rules.owner = weakref.ref(self)

    @property
    def transport(self) -> Any:
        """The wrapped transport."""
        return self._transport

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r}, {settings(self.rules)})"

    def _dropping(
        self, request: Any, response: Any, value: str, under: Below | None
    ) -> Generator[tuple[str, Any], Any, Any]:
        """After a 4xx `response` to a request this owner sent with `value`: the steps the drivers carry out.

        `under` holds what the layers below reported, if any. Yields ("send", (request,
        `Below` for the resend)) for a response, and the reading steps of
        `read_rejection`; returns the response to give back.
        """
        mark = request.extensions.get(SENT)
        if mark is None:
            return response  # nothing was added to this request
        own: str = mark[1] or ""  # what the caller set
        layers = [(self.rules, drop.ours((value,), (own,)))] if self.rules.drop_rejected else []
        if under is not None:
            layers += under.added
        if not any(mine for _, mine in layers):
            return response
        values = (request.headers.get(HEADER),)
        take = drop.learn(layers, (yield from self._rejection(response)), values)
        if not take or not isinstance(request.stream, self._stack.ByteStream):
            return response  # nothing to gain, or a streamed upload that cannot be replayed
        # A new request: what recorded the first send (the wrapped transport, an event hook)
        # keeps what it carried.
        resend = self._stack.Request(
            request.method,
            request.url,
            headers=request.headers,
            stream=request.stream,
            extensions=dict(request.extensions),
        )
        kept = drop.without(values, take)
        del resend.headers[HEADER]
        if kept is not None:
            resend.headers[HEADER] = kept
        again = Below(left_off=take, resend=True)
        response = yield SEND, (resend, again)
        if drop.is_rejection_status(response.status_code):
            drop.learn(layers, (yield from self._rejection(response)), values)
        return response

    def _rejection(self, response: Any) -> Generator[tuple[str, Any], Any, Any]:
        """Look for a beta rejection in `response`; the client then gets its body whole, unread."""
        return (yield from read_rejection(self._stack, response, self._replay))

    _replay: Any  # (chunks, rest, stream) -> a stream yielding the chunks read, then the rest


OPEN, CLOSE = "open", "close"  # with READ: the steps of `read_rejection`


def read_rejection(stack: ModuleType, response: Any, replay: Any) -> Generator[tuple[str, Any], Any, Any]:
    """The rejection in `response`'s first `LIMIT` bytes, as steps `sync_step`/`async_step` carry out.

    The raw stream is read chunk by chunk, up to `LIMIT` bytes or its end. A body that ends
    there is decoded (at most `LIMIT` bytes of it) and looked at, its connection released,
    and put back as bytes; a longer one is no rejection, and its stream is replaced by
    `replay(chunks read, rest of the stream, stream)`: the client reads it whole, from the start.
    So is a body that breaks off (a reading step gives a `_Raising`): the client meets the
    error where it would have, after the bytes that came. A body already read
    (`response.content`) is looked at if it is short enough.
    """
    if response.is_stream_consumed:
        content = response.content
        return None if len(content) > LIMIT else from_body(response.status_code, content)
    stream = response.stream
    rest = yield OPEN, stream
    chunks: list[bytes] = []
    size = 0
    while size <= LIMIT:
        chunk = yield READ, rest
        if chunk is None:
            break
        if isinstance(chunk, _Raising):
            response.stream = replay(chunks, chunk, stream)
            return None
        chunks.append(chunk)
        size += len(chunk)
    else:
        response.stream = replay(chunks, rest, stream)
        return None
    yield CLOSE, stream
    raw = b"".join(chunks)
    response.stream = stack.ByteStream(raw)
    body = _decoded(stack, response, raw)
    return None if body is None else from_body(response.status_code, body)


def _decoded(stack: ModuleType, response: Any, raw: bytes) -> bytes | None:
    """`raw` decoded by the stack's own decoders as the client would; None past `LIMIT` or on an error."""
    if response.headers.get("content-encoding") is None:
        return raw
    pieces = (raw[at : at + PIECE] for at in range(0, len(raw), PIECE))
    probe = stack.Response(response.status_code, headers=response.headers, content=pieces)
    decoded: list[bytes] = []
    size = 0
    try:
        for chunk in probe.iter_bytes():
            size += len(chunk)
            if size > LIMIT:
                return None
            decoded.append(chunk)
    except stack.DecodingError:
        return None  # the client meets the error when it reads the body
    return b"".join(decoded)


class _Raising:
    """The rest of a body that broke off while it was looked at: reading it raises its error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        raise self.error

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        raise self.error


def sync_step(step: str, arg: Any) -> Any:
    """Carry out a reading step of `read_rejection` on a sync stream."""
    if step is OPEN:
        return iter(arg)
    if step is READ:
        try:
            return next(arg, None)
        except Exception as error:  # the client meets it when it reads there (not BaseException)
            return _Raising(error)
    arg.close()
    return None


async def async_step(step: str, arg: Any) -> Any:
    """Carry out a reading step of `read_rejection` on an async stream."""
    if step is OPEN:
        return arg.__aiter__()
    if step is READ:
        try:
            return await arg.__anext__()
        except StopAsyncIteration:
            return None
        except Exception as error:  # the client meets it when it reads there (not BaseException)
            return _Raising(error)
    await arg.aclose()
    return None


@functools.cache
def replay_streams(stack: ModuleType) -> tuple[type, type]:
    """The stack's sync and async streams that give the chunks read, then the rest."""

    class Replay(stack.SyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, chunks: list[bytes], rest: Iterator[bytes], stream: Any) -> None:
            self._chunks, self._rest, self._stream = chunks, rest, stream

        def __iter__(self) -> Iterator[bytes]:
            chunks, self._chunks = self._chunks, []
            yield from chunks
            yield from self._rest

        def close(self) -> None:
            self._stream.close()

    class AsyncReplay(stack.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, chunks: list[bytes], rest: AsyncIterator[bytes], stream: Any) -> None:
            self._chunks, self._rest, self._stream = chunks, rest, stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            chunks, self._chunks = self._chunks, []
            for chunk in chunks:
                yield chunk
            async for chunk in self._rest:
                yield chunk

        async def aclose(self) -> None:
            await self._stream.aclose()

    return Replay, AsyncReplay


class BetaTransportBase(_Wrapper, Generic[Req, Resp]):
    """A sync transport that adds the active betas, then hands the request to the wrapped one."""

    _transport: _SyncInner[Req, Resp]

    def _replay(self, chunks: list[bytes], rest: Iterator[bytes], stream: Any) -> Any:
        return replay_streams(self._stack)[0](chunks, rest, stream)

    def handle_request(self, request: Req) -> Resp:
        """Add the merged `anthropic-beta` header and send through the wrapped transport."""
        rules = self.rules
        added = rules.added()
        value = added.joined
        # Nothing to add and nothing added before: nothing to do, whatever the host (and
        # whether or not another of ours above owns the request: it adds nothing here).
        if value or SENT in request.extensions:
            under = below.get() if owning else None
            if under is not None:  # another of ours above owns the request: see `Below`
                prepare_below(rules, request, under, self._hosts)
                return self._transport.handle_request(request)
            value = prepare(rules, request, value, added, self._hosts)
            if value and self._stacked:
                return self._send_over(request, value, added)
        response = self._transport.handle_request(request)
        # inline, not a helper of its own: a call less per request with drop_rejected (measured)
        if rules.drop_rejected and 400 <= response.status_code < 500:  # drop.is_rejection_status
            response = self._drive(self._dropping(request, response, value, None))
            record_sent(request)
        return response

    def _send_over(self, request: Req, value: str, added: NameSet) -> Resp:
        """Send `request`, which this layer owns, through layers of ours below it."""
        under = Below(added.members)
        token = hand_down(under)
        try:
            response = self._transport.handle_request(request)
        finally:
            take_back(token)
            record_sent(request)
        if (self.rules.drop_rejected or under.added) and 400 <= response.status_code < 500:
            response = self._drive(self._dropping(request, response, value, under))
            record_sent(request)
        return response

    def _drive(self, steps: Generator[tuple[str, Any], Any, Any]) -> Resp:
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    request, under = arg
                    token = hand_down(under)
                    try:
                        value = self._transport.handle_request(request)
                    finally:
                        take_back(token)
                else:
                    value = sync_step(step, arg)
        except StopIteration as done:
            result: Resp = done.value
            return result

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()

    def __enter__(self) -> Self:
        self._transport.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._transport.__exit__(exc_type, exc_value, traceback)

    def _not_async(self, *args: object) -> NoReturn:
        """Refuse: this sync transport was given to an async client (use AsyncBetaTransport)."""
        raise self._wrong_client("AsyncBetaTransport")

    # What an httpx AsyncClient calls on its transport: our message, not an AttributeError.
    handle_async_request = aclose = __aenter__ = __aexit__ = _not_async


class AsyncBetaTransportBase(_Wrapper, Generic[Req, Resp]):
    """An async transport that adds the active betas, then hands the request to the wrapped one."""

    _transport: _AsyncInner[Req, Resp]

    def _replay(self, chunks: list[bytes], rest: AsyncIterator[bytes], stream: Any) -> Any:
        return replay_streams(self._stack)[1](chunks, rest, stream)

    def handle_async_request(self, request: Req) -> Coroutine[Any, Any, Resp]:
        """Add the merged `anthropic-beta` header and send through the wrapped transport.

        Awaitable like `AsyncBaseTransport.handle_async_request`, but not itself a
        coroutine: the header is set at the call, and the wrapped transport's coroutine
        is handed back to be awaited, so a request costs no coroutine of this wrapper's.
        """
        rules = self.rules
        added = rules.added()
        value = added.joined
        # Nothing to add and nothing added before: nothing to do, whatever the host (and
        # whether or not another of ours above owns the request: it adds nothing here).
        if value or SENT in request.extensions:
            under = below.get() if owning else None
            if under is not None:  # another of ours above owns the request: see `Below`
                prepare_below(rules, request, under, self._hosts)
                return self._transport.handle_async_request(request)
            value = prepare(rules, request, value, added, self._hosts)
            if value and self._stacked:
                return self._send_over(request, value, added)
        if rules.drop_rejected:
            return self._send_dropping(request, value)
        return self._transport.handle_async_request(request)

    async def _send_dropping(self, request: Req, value: str) -> Resp:
        response = await self._transport.handle_async_request(request)
        if 400 <= response.status_code < 500:  # drop.is_rejection_status, inline
            response = await self._drive(self._dropping(request, response, value, None))
            record_sent(request)
        return response

    async def _send_over(self, request: Req, value: str, added: NameSet) -> Resp:
        """Send `request`, which this layer owns, through layers of ours below it."""
        under = Below(added.members)
        token = hand_down(under)
        try:
            response = await self._transport.handle_async_request(request)
        finally:
            take_back(token)
            record_sent(request)
        if (self.rules.drop_rejected or under.added) and 400 <= response.status_code < 500:
            response = await self._drive(self._dropping(request, response, value, under))
            record_sent(request)
        return response

    async def _drive(self, steps: Generator[tuple[str, Any], Any, Any]) -> Resp:
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    request, under = arg
                    token = hand_down(under)
                    try:
                        value = await self._transport.handle_async_request(request)
                    finally:
                        take_back(token)
                else:
                    value = await async_step(step, arg)
        except StopIteration as done:
            result: Resp = done.value
            return result

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()

    def _not_sync(self, *args: object) -> NoReturn:
        """Refuse: this async transport was given to a sync client (use BetaTransport)."""
        raise self._wrong_client("BetaTransport")

    # What an httpx Client calls on its transport: our message, not an AttributeError.
    handle_request = close = __enter__ = __exit__ = _not_sync

    async def __aenter__(self) -> Self:
        await self._transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._transport.__aexit__(exc_type, exc_value, traceback)


W = TypeVar("W", bound=_Wrapper)


def wrap(cls: type[W], transport: Any, rules: Rules, matched: bool = False) -> W:
    """A `cls` (a `BetaTransport` class) wrapping `transport`, built without validation.

    `matched`: for hops whose host `rules.hosts` matched already (`install()` picks
    the transport by host), so it is not checked again.
    """
    wrapper = cls.__new__(cls)
    wrapper._setup(transport, rules)
    if matched:
        wrapper._hosts = None
    return wrapper


@functools.cache
def outside(wrapper: Any) -> Any:
    """`wrapper` (a `BetaTransport` class) for hops outside the installation's hosts.

    `install()` picks each hop's transport by its host: one outside the hosts gets this
    wrapper, which only undoes what an earlier send added (a redirect out of the hosts,
    a request sent again) and adds nothing.
    """
    if issubclass(wrapper, AsyncBetaTransportBase):

        class AsyncOutside(wrapper):  # type: ignore[misc]
            def handle_async_request(self, request: Any) -> Coroutine[Any, Any, Any]:
                if SENT in request.extensions:
                    prepare(self.rules, request, "", NONE, None)
                if cached(DEBUG) is not False and enabled(DEBUG):
                    log.outside(self.rules, request.url.host)
                return self._transport.handle_async_request(request)  # type: ignore[no-any-return]

        outside: Any = AsyncOutside
    else:
        assert issubclass(wrapper, BetaTransportBase)

        class Outside(wrapper):  # type: ignore[misc]
            def handle_request(self, request: Any) -> Any:
                if SENT in request.extensions:
                    prepare(self.rules, request, "", NONE, None)
                if cached(DEBUG) is not False and enabled(DEBUG):
                    log.outside(self.rules, request.url.host)
                return self._transport.handle_request(request)

        outside = Outside
    # logs and errors name the integration, as for a hop inside the hosts
    outside.__name__, outside.__qualname__ = wrapper.__name__, wrapper.__qualname__
    return outside


C = TypeVar("C")


def _transports(client: Any) -> list[Any]:
    """A built client's transport and its mounted ones: httpx has no public way to reach them."""
    return [client._transport, *(t for t in client._mounts.values() if t is not None)]


def sends_through_ours(client: object) -> bool:
    """Whether `client` (an httpx or httpx2 client) sends through a transport of ours."""
    return any(isinstance(transport, _Wrapper) for transport in _transports(client))


def instrument(
    client: C,
    sync: type[BetaTransportBase[Any, Any]],
    async_: type[AsyncBetaTransportBase[Any, Any]],
    betas: str | Iterable[str],
    hosts: str | Iterable[str] | None,
    drop_rejected: bool = False,
) -> C:
    """Wrap, in place, the transport and every mounted transport of `client`.

    httpx has no public way to reach a built client's transports, so this is the one
    place that reads `_transport` and `_mounts`; the tests pin both down.
    """
    rules = Rules(betas, hosts, drop_rejected)
    stack = sync._stack
    if isinstance(client, stack.AsyncClient):
        wrapper: type[_Wrapper] = async_
    elif isinstance(client, stack.Client):
        wrapper = sync
    else:
        takes = f"instrument() takes a {stack.__name__}.Client or AsyncClient, got {client!r}"
        other = type(client).__module__.partition(".")[0]
        if other in ("httpx", "httpx2"):  # the other stack's client
            takes += f"; for a {other} client use beta_middleware.{other}.instrument"
        raise TypeError(takes)
    c: Any = client
    for transport in _transports(c):
        if isinstance(transport, wrapper) and transport.rules != rules:
            raise ValueError(
                f"{client!r} is already instrumented: {transport!r}; "
                f"refusing to wrap it again with {settings(rules)}"
            )

    def ours(transport: Any) -> Any:
        return (
            transport
            if transport is None or isinstance(transport, wrapper)
            else wrap(wrapper, transport, rules)
        )

    c._transport = ours(c._transport)
    c._mounts = {pattern: ours(transport) for pattern, transport in c._mounts.items()}
    return client
