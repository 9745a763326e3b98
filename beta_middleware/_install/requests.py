"""`install()` for requests: `Session.get_adapter` is patched.

requests asks the session for the adapter of every hop (redirects included). The
patched method hands back the mounted adapter wrapped in an adapter that runs
`BetaAdapter`'s own merge (`beta_middleware.requests.send_merged`) around it: one
wrapper per adapter, held weakly, nothing stored on the session. A hop to a host
outside the installation's `hosts=` (the URL is at hand here) gets a wrapper that only
gives a request we sent before with betas back what the caller set.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests import PreparedRequest, Response, Session
from requests.adapters import BaseAdapter

from .._core import log
from .._core.log import DEBUG, cached, enabled
from ..requests import SENT, BetaAdapter, applies, forget, send_merged
from .installation import Wrappers

if TYPE_CHECKING:
    from .._core.header import Rules
    from .installation import Installation

__all__ = ["InstalledAdapter", "OutsideAdapter", "patch"]


class InstalledAdapter(BaseAdapter):
    """A session's mounted adapter, as the installation sends through it."""

    last_url: tuple[str | None, bool] = (None, False)  # `applies`'s one-URL memo, as on BetaAdapter

    def __init__(self, adapter: BaseAdapter, rules: Rules) -> None:
        super().__init__()
        self.adapter = adapter
        self.rules = rules
        self.stacked = isinstance(adapter, BetaAdapter)  # another of ours below: see `Below`

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        """Send `request` through the mounted adapter with the merged `anthropic-beta` header."""
        # No layer of ours is ever above it (the SDK does not send with requests): it owns
        # the request, and tells a BetaAdapter it wraps so (see `Below`).
        rules = self.rules
        send = self.adapter.send
        added = rules.added()
        if not added.joined or (rules.hosts is not None and not applies(self, request.url)):
            if added.joined and cached(DEBUG) is not False and enabled(DEBUG):
                log.outside(rules, urlsplit(request.url or "").hostname or "")
            if getattr(request, SENT, None) is not None:
                forget(request)  # sent before with betas: send what the caller set
            return send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        return send_merged(send, rules, added, request, stream, timeout, verify, cert, proxies, self.stacked)

    def __getattr__(self, name: str) -> Any:
        # what code reads from `session.get_adapter(url)` (`max_retries`, `poolmanager`,
        # ...) is the mounted adapter's
        if name == "adapter":  # not set yet (unpickling, copying): no recursion
            raise AttributeError(name)
        return getattr(self.adapter, name)

    def close(self) -> None:
        """Close the mounted adapter."""
        self.adapter.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.adapter!r}, {self.rules!r})"


class OutsideAdapter(InstalledAdapter):
    """A session's mounted adapter, as the installation sends through it to a host outside its hosts."""

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        """Send `request` through the mounted adapter with nothing of the installation's."""
        if cached(DEBUG) is not False and enabled(DEBUG):
            log.outside(self.rules, urlsplit(request.url or "").hostname or "")
        if getattr(request, SENT, None) is not None:
            forget(request)  # sent before with betas: send what the caller set
        send = self.adapter.send
        return send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def patch(installation: Installation, stack: ModuleType) -> None:
    """Patch requests for `installation`."""
    del stack  # this module imports what it patches
    installation.patch(Session, "get_adapter", _patched(Session.get_adapter, installation.rules))


def _patched(original: Callable[[Any, str], BaseAdapter], rules: Rules) -> Callable[..., BaseAdapter]:
    wrapped = Wrappers(lambda adapter: InstalledAdapter(adapter, rules))
    outside = Wrappers(lambda adapter: OutsideAdapter(adapter, rules))
    check = InstalledAdapter(BaseAdapter(), rules)  # for `applies`, with its one-URL memo
    hosts = rules.hosts

    def get_adapter(self: Session, url: str) -> BaseAdapter:
        adapter = original(self, url)
        if hosts is not None:
            last, matches = check.last_url  # `applies(check, url)`'s first step
            if not (matches if url == last else applies(check, url)):
                ref, found = outside.last  # `outside(adapter)`'s first step
                return found if ref() is adapter else outside(adapter)  # type: ignore[no-any-return]
        ref, found = wrapped.last  # `wrapped(adapter)`'s first step, without its call
        return found if ref() is adapter else wrapped(adapter)  # type: ignore[no-any-return]

    get_adapter.__wrapped__ = original  # type: ignore[attr-defined]
    get_adapter.__doc__ = original.__doc__
    return get_adapter
