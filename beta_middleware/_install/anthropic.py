"""`install()` for the anthropic SDK: a `BetaMiddleware` runs first in every client's chain.

The SDK builds a client's middleware chain from `client._middleware` when the client is
built (and per call for a traced call), and runs it once per attempt, before the HTTP
request is built and signed - which is what makes Bedrock's betas land in the signed
body. No public API adds middleware to built clients, so private names are patched,
each pinned by a test; only one of them can run per call, the third below:

- `_middleware` reads as the installation's middleware followed by the client's own, so
  the SDK's own code builds every chain with it (copies and traced calls included); it
  stores the client's own, without ours, so a copy does not get it twice;
- `middleware`, the public property, still shows the client's own;
- `_middleware_chain` notes, when a client stores its chain, that the chain holds ours:
  `uninstall()` builds those clients' chains anew, without it. Where the SDK was
  imported before `install()`, clients built before may hold a chain without ours, so
  there it reads, per call, as a chain with ours (built once per client, on its first
  read; the read is C code, see `_Covering`).

The installation's middleware runs first in the chain, so it owns each request (see
`Below`): the HTTP-stack patch under it adds only the installation's own `betas=`, which
the SDK's request already carries. It does nothing once uninstalled (a chain of it
someone kept goes on working, without betas). SDK releases without the
middleware option (before 0.108) are left as they are; the httpx patch covers their
requests to the installation's hosts. A client of theirs whose base URL is outside
those hosts would get nothing, silently: its construction warns, once per host, naming
the fix (`_warn_outside`).
"""

from __future__ import annotations

import functools
import operator
import sys
import weakref
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .installation import Installation

__all__ = ["patch"]


_MARK = "_beta_middleware_chain"  # in a client's __dict__: its chain with ours (read by `_Covering`)


def patch(installation: Installation, stack: ModuleType) -> None:
    """Patch the anthropic SDK for `installation`."""
    if getattr(stack, "Middleware", None) is None:  # a release before 0.108: no middleware option
        _warn_outside(installation, stack)
        return
    from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient

    from ..anthropic import BetaMiddleware

    middleware = _installed(BetaMiddleware)()
    middleware.rules = installation.sdk_rules
    installation.patch(BaseClient, "_middleware", _Middleware(middleware))
    installation.patch(BaseClient, "middleware", property(_own, doc=_own.__doc__))
    # Imported before install(): clients built before may exist, whose chain lacks ours.
    chain = (_Covering if stack.__name__ in installation.imported_before else _Chain)()
    for client in (SyncAPIClient, AsyncAPIClient):
        chain.patch(installation, client)
    installation.on_uninstall(functools.partial(chain.forget, middleware))


def _warn_outside(installation: Installation, sdk: ModuleType) -> None:
    """On an SDK without middleware: a client built with a base URL outside the hosts warns, once per host.

    Its requests reach the installation only through the httpx patch, which serves the
    installation's hosts alone; the SDK's default base URL and `ANTHROPIC_BASE_URL` are
    in the default hosts, a `base_url=` given in code (a framework's, a proxy's) may not be.
    """
    matches = installation.rules.hosts
    if matches is None:  # every host: every client is covered
        return
    base_client = sys.modules[f"{sdk.__name__}._base_client"].BaseClient
    init = base_client.__init__
    version = getattr(sdk, "__version__", "(of unknown version)")
    warned: set[str] = set()

    @functools.wraps(init)
    def init_(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        try:
            host = str(self.base_url.host)
        except Exception:  # a client of another shape: nothing to tell
            return
        if not host or matches(host) or host in warned:
            return
        warned.add(host)
        import warnings

        warnings.warn(
            f"anthropic {version} has no middleware option (0.108 added it): beta_middleware.install() "
            f"reaches its clients through httpx, for the installation's hosts only, and this client's "
            f"base URL is on {host!r}, outside hosts={list(matches.spec)!r}, so its requests get no betas. "
            f"Add the host (install(hosts=[..., {host!r}]), run --hosts or BETA_MIDDLEWARE_HOSTS), "
            f"or upgrade the SDK: pip install 'anthropic>=0.108'",
            RuntimeWarning,
            stacklevel=_outside_stacklevel(),
        )

    installation.patch(base_client, "__init__", init_)


def _outside_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first caller outside the SDK and this package."""
    frame = sys._getframe(2)
    level = 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "anthropic",
        "beta_middleware",
    ):
        frame = frame.f_back
        level += 1
    return level


@functools.cache
def _installed(base: type[Any]) -> type[Any]:
    """The installation's `BetaMiddleware`: inert once uninstalled."""

    class InstalledMiddleware(base):  # type: ignore[misc]
        on = True

        def handle(self, request: Any, call_next: Any) -> Any:
            if not self.on:
                return call_next(request)
            return base.handle(self, request, call_next)

        async def handle_async(self, request: Any, call_next: Any) -> Any:
            if not self.on:
                return await call_next(request)
            return await base.handle_async(self, request, call_next)

    # logs and errors name the integration
    InstalledMiddleware.__name__ = InstalledMiddleware.__qualname__ = base.__name__
    return InstalledMiddleware


def _own(client: Any) -> Any:
    """The client-level middleware, outermost first: the client's own (the installation's is not shown)."""
    return client.__dict__.get("_middleware", ())


class _Middleware:
    """`BaseClient._middleware`: ours, then the client's own."""

    def __init__(self, middleware: object) -> None:
        self.middleware = middleware

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        return (self.middleware, *client.__dict__.get("_middleware", ()))

    def __set__(self, client: Any, value: tuple[Any, ...]) -> None:
        # a copy of a client is given what it read here: ours goes, the rest stays
        client.__dict__["_middleware"] = tuple(entry for entry in value if entry is not self.middleware)


class _Chain:
    """`_middleware_chain` where no client can predate the installation: notes the chains with ours.

    It has no `__get__`, so the SDK reads the chain from the client's `__dict__` as ever.
    """

    def __init__(self) -> None:
        # those whose chain holds ours, held weakly: a set of references, copied in one step at uninstall
        self.clients: set[weakref.ref[Any]] = set()

    def __set__(self, client: Any, chain: object) -> None:
        # Built here, not taken: a constructor that built its chain before the patch (on
        # another thread, while installing) may store it after. About a microsecond.
        del chain
        # ours leads it; kept under both names: `_Covering` reads one, a copy left after uninstall() the other
        client.__dict__["_middleware_chain"] = client.__dict__[_MARK] = client._build_middleware_chain()
        self.clients.add(weakref.ref(client, self.clients.discard))

    def patch(self, installation: Installation, owner: type[Any]) -> None:
        """Put it on the client class `owner`."""
        installation.patch(owner, "_middleware_chain", self)

    def forget(self, middleware: Any) -> None:
        """`uninstall()`, once the attributes are back: each chain noted is built anew, without ours."""
        middleware.on = False  # a chain of it kept elsewhere sends on without betas
        # copied in one step (other threads may be building clients); a dead one is left out
        for client in [c for c in (ref() for ref in tuple(self.clients)) if c is not None]:
            client.__dict__["_middleware_chain"] = client._build_middleware_chain()
            client.__dict__.pop(_MARK, None)
        self.clients.clear()


class _Covering(_Chain):
    """`_middleware_chain` where clients may predate the installation: a chain with ours, per read.

    A client's chain with ours is kept in its `__dict__` under `_MARK`; the read is a
    `property` over `operator.attrgetter(_MARK)`, all of it C, so a client whose chain holds
    ours pays a C attribute read per call. A client built before the installation has no
    such entry: the read falls to `_Build`, on the class, which builds its chain once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.read = property(operator.attrgetter(_MARK), self.__set__, doc=self.__doc__)
        self.build = _Build(self)

    def patch(self, installation: Installation, owner: type[Any]) -> None:
        installation.patch(owner, "_middleware_chain", self.read)
        installation.patch(owner, _MARK, self.build)


class _Build:
    """`_MARK` on the client classes, read only where a client's `__dict__` lacks it: builds it."""

    def __init__(self, chain: _Chain) -> None:
        self.chain = chain

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        self.chain.__set__(client, None)
        return client.__dict__[_MARK]
