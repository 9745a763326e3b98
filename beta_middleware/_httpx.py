"""What the httpx and httpx2 integrations share: both stacks have one transport API.

`beta_middleware.httpx` and `beta_middleware.httpx2` only bind these classes to their
stack's types; everything that runs lives here, once.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator, Iterable
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from . import _drop
from ._header import HEADER, Rules, sent
from ._rejected import from_body

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncBetaTransportBase", "BetaTransportBase", "instrument", "prepare"]

# Request extension holding the caller's own header value ("" for none) once betas were
# added. httpx hands a redirect hop the request's extensions (and headers), so a hop that
# leaves the hosts can be given back exactly what the caller set.
OWN = "beta_middleware.own"

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
    @property
    def extensions(self) -> Any: ...


def prepare(rules: Rules, request: _Request, value: str) -> None:
    """Set the merged `anthropic-beta` header on `request` itself (so `response.request` shows it).

    `value` is `rules.value()`, read by the caller, which calls this only when it is
    not empty or `hosts=` is set. One Python call per request: the host is read inline.
    """
    hosts = rules.hosts
    if hosts is not None:
        host = request.url.host
        if host not in hosts.exact and not hosts(host):
            own: str | None = request.extensions.get(OWN)
            if own is not None:  # a redirect hop that left the hosts: give back what the caller set
                headers = request.headers
                del headers[HEADER]
                if own:
                    headers[HEADER] = own
            return
    if value:
        headers = request.headers
        # `get`, not `get_list`: it raises and catches a KeyError when the header is
        # absent, yet measured in a request it costs less overall
        current: str | None = headers.get(HEADER)
        request.extensions.setdefault(OWN, current or "")  # kept by a redirect hop, if any
        if current:
            added = rules.added()
            value = added.after.get(current) or sent(current, added)
        headers[HEADER] = value


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
            name = self._stack.__name__
            raise TypeError(
                f"{type(self).__name__} wraps a {name}.{self._base.__name__}, got {transport!r}; "
                f"for another stack use its module (beta_middleware.httpx or beta_middleware.httpx2)"
            )
        self._setup(transport, rules)

    def _setup(self, transport: Any, rules: Rules) -> None:
        self._transport = transport
        self.rules = rules

    @classmethod
    def _wrap(cls, transport: Any, rules: Rules) -> Self:
        wrapper = cls.__new__(cls)
        wrapper._setup(transport, rules)
        return wrapper

    @property
    def transport(self) -> Any:
        """The wrapped transport."""
        return self._transport

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r}, {self.rules!r})"

    def _dropping(self, request: Any, response: Any) -> Generator[tuple[str, Any], Any, Any]:
        """drop_rejected=True, after a 4xx `response`: what to do, as steps the drivers carry out.

        Yields ("send", request) for a response and ("read", response) for its raw body
        (the driver consumes and closes the stream); returns the response to give back.
        """
        own: str | None = request.extensions.get(OWN)
        if own is None or _drop.was_resent(response) or _drop.resending.get():
            return response  # nothing was added to this request, or a layer below resent it
        values = (request.headers.get(HEADER),)
        mine = _drop.ours(values, (own,))
        if not mine:
            return response
        take = _drop.learn(self.rules, (yield from self._rejection(response)), mine)
        if not take or not isinstance(request.stream, self._stack.ByteStream):
            return response  # nothing to gain, or a streamed upload that cannot be replayed
        value = _drop.without(values, take)
        del request.headers[HEADER]
        if value is not None:
            request.headers[HEADER] = value
        response = yield SEND, request
        _drop.mark_resent(response)
        if _drop.is_rejection_status(response.status_code):
            _drop.learn(self.rules, (yield from self._rejection(response)), mine)
        return response

    def _rejection(self, response: Any) -> Generator[tuple[str, Any], Any, Any]:
        """Read `response`'s body and look for a beta rejection in it.

        The raw stream is read and put back as bytes, so the client still gets an unread
        response; a throwaway response decodes any content encoding.
        """
        stack = self._stack
        raw = yield READ, response
        response.stream = stack.ByteStream(raw)
        probe = stack.Response(response.status_code, headers=response.headers, stream=stack.ByteStream(raw))
        return from_body(response.status_code, probe.read())


class BetaTransportBase(_Wrapper, Generic[Req, Resp]):
    """A sync transport that adds the active betas, then hands the request to the wrapped one."""

    _transport: _SyncInner[Req, Resp]

    def handle_request(self, request: Req) -> Resp:
        """Add the merged `anthropic-beta` header and send through the wrapped transport."""
        rules = self.rules
        value = rules.value()
        if value or rules.hosts is not None:  # else the pass-through: nothing to do
            prepare(rules, request, value)
        if rules.drop_rejected:
            return self._send_dropping(request)
        return self._transport.handle_request(request)

    def _send_dropping(self, request: Req) -> Resp:
        response = self._transport.handle_request(request)
        if 400 <= response.status_code < 500:  # _drop.is_rejection_status, inline
            return self._drive(self._dropping(request, response))
        return response

    def _drive(self, steps: Generator[tuple[str, Any], Any, Any]) -> Resp:
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    value = _drop.resend(self._transport.handle_request, arg)
                else:
                    value = b"".join(arg.stream)
                    arg.stream.close()
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


class AsyncBetaTransportBase(_Wrapper, Generic[Req, Resp]):
    """An async transport that adds the active betas, then hands the request to the wrapped one."""

    _transport: _AsyncInner[Req, Resp]

    def handle_async_request(self, request: Req) -> Coroutine[Any, Any, Resp]:
        """Add the merged `anthropic-beta` header and send through the wrapped transport.

        Awaitable like `AsyncBaseTransport.handle_async_request`, but not itself a
        coroutine: the header is set at the call, and the wrapped transport's coroutine
        is handed back to be awaited, so a request costs no coroutine of this wrapper's.
        """
        rules = self.rules
        value = rules.value()
        if value or rules.hosts is not None:  # else the pass-through: nothing to do
            prepare(rules, request, value)
        if rules.drop_rejected:
            return self._send_dropping(request)
        return self._transport.handle_async_request(request)

    async def _send_dropping(self, request: Req) -> Resp:
        response = await self._transport.handle_async_request(request)
        if 400 <= response.status_code < 500:  # _drop.is_rejection_status, inline
            return await self._drive(self._dropping(request, response))
        return response

    async def _drive(self, steps: Generator[tuple[str, Any], Any, Any]) -> Resp:
        value: Any = None
        try:
            while True:
                step, arg = steps.send(value)
                if step is SEND:
                    token = _drop.resending.set(True)
                    try:
                        value = await self._transport.handle_async_request(arg)
                    finally:
                        _drop.resending.reset(token)
                else:
                    value = b"".join([chunk async for chunk in arg.stream])
                    await arg.stream.aclose()
        except StopIteration as done:
            result: Resp = done.value
            return result

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()

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


C = TypeVar("C")


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
        raise TypeError(f"instrument() takes a {stack.__name__}.Client or AsyncClient, got {client!r}")
    c: Any = client
    transports = [c._transport, *(t for t in c._mounts.values() if t is not None)]
    for transport in transports:
        if isinstance(transport, wrapper) and transport.rules != rules:
            raise ValueError(
                f"{client!r} is already instrumented with {transport.rules!r}; "
                f"refusing to wrap it again with {rules!r}"
            )

    def wrap(transport: Any) -> Any:
        return (
            transport
            if transport is None or isinstance(transport, wrapper)
            else wrapper._wrap(transport, rules)
        )

    c._transport = wrap(c._transport)
    c._mounts = {pattern: wrap(transport) for pattern, transport in c._mounts.items()}
    return client
