"""What the httpx and httpx2 integrations share: both stacks have one transport API.

`beta_middleware.httpx` and `beta_middleware.httpx2` only bind these classes to their
stack's types; everything that runs lives here, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ._header import HEADER, Rules

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncBetaTransportBase", "BetaTransportBase", "instrument", "prepare"]

# Request extension holding the caller's own header values once betas were added. httpx
# copies extensions (and headers) into redirect requests, so a hop that leaves the hosts
# can be given back exactly what the caller set.
OWN = "beta_middleware.own"


class _Headers(Protocol):
    def get_list(self, key: str, split_commas: bool = False) -> list[str]: ...
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


def prepare(rules: Rules, request: _Request) -> None:
    """Set the merged `anthropic-beta` header on `request` itself (so `response.request` shows it)."""
    added = rules.added()
    own: tuple[str, ...] | None = request.extensions.get(OWN)
    if not added.names and own is None:
        return  # the pass-through path: nothing active, never touched
    hosts = rules.hosts
    if hosts is None or hosts(request.url.host):  # `rules.applies_to`, inlined for the hot path
        if added.names:
            current = tuple(request.headers.get_list(HEADER))
            if own is None:
                request.extensions[OWN] = current
            request.headers[HEADER] = rules.merged(current, added) if current else added.joined
    elif own is not None:
        # A redirect hop that left the hosts: take back what an integration added.
        del request.headers[HEADER]
        if own:
            request.headers[HEADER] = ",".join(own)


Req = TypeVar("Req", bound=_Request)
Resp = TypeVar("Resp")
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
    ) -> None:
        rules = Rules(betas, hosts)  # validates before anything is built
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


class BetaTransportBase(_Wrapper, Generic[Req, Resp]):
    """A sync transport that adds the active betas, then hands the request to the wrapped one."""

    _transport: _SyncInner[Req, Resp]

    def handle_request(self, request: Req) -> Resp:
        """Add the merged `anthropic-beta` header and send through the wrapped transport."""
        prepare(self.rules, request)
        return self._transport.handle_request(request)

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

    async def handle_async_request(self, request: Req) -> Resp:
        """Add the merged `anthropic-beta` header and send through the wrapped transport."""
        prepare(self.rules, request)
        return await self._transport.handle_async_request(request)

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
) -> C:
    """Wrap, in place, the transport and every mounted transport of `client`.

    httpx has no public way to reach a built client's transports, so this is the one
    place that reads `_transport` and `_mounts`; the tests pin both down.
    """
    rules = Rules(betas, hosts)
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
