"""requests integration: `BetaAdapter`, an `HTTPAdapter` that sends the active betas.

```python
session = requests.Session()
session.mount("https://api.anthropic.com", BetaAdapter())
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from ._compat import missing_stack

try:
    from requests import PreparedRequest, Response
    from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without requests
    raise ImportError(missing_stack("requests", "requests")) from exc

from . import _drop
from ._header import HEADER, Rules, sent
from ._rejected import rejection

__all__ = ["BetaAdapter", "send_merged"]


class BetaAdapter(HTTPAdapter):
    """An `HTTPAdapter` that adds the active betas to the `anthropic-beta` header.

    Takes `HTTPAdapter`'s arguments (`max_retries`, `pool_maxsize`, ...) plus:

    Args:
        betas: names this adapter always sends (a name or an iterable of names).
        hosts: `None` for every request; otherwise the host names (`*.example.com`
            for subdomains) whose requests get betas.
        drop_rejected: when the API rejects betas this adapter added, resend once
            without them (bodies given as bytes or str only) and leave them off every
            later request; names the caller set are never dropped.

    Like requests' own `HTTPAdapter.add_headers`, the adapter sets the header on the
    `PreparedRequest` it sends, so `response.request` shows what was sent. When the
    response is a redirect, or sending raises, the request gets back the value the
    caller set: requests builds the next hop from it, so a hop carries only what the
    caller set until an adapter adds betas again (the redirect response's `.request`
    is a copy showing what was sent).
    """

    __attrs__ = [*HTTPAdapter.__attrs__, "rules"]  # noqa: RUF012 - what requests pickles

    def __init__(
        self,
        pool_connections: int = DEFAULT_POOLSIZE,
        pool_maxsize: int = DEFAULT_POOLSIZE,
        max_retries: int | Retry = DEFAULT_RETRIES,
        pool_block: bool = DEFAULT_POOLBLOCK,
        *,
        betas: str | Iterable[str] = (),
        hosts: str | Iterable[str] | None = None,
        drop_rejected: bool = False,
    ) -> None:
        self.rules = Rules(betas, hosts, drop_rejected)  # validates before anything is built
        super().__init__(pool_connections, pool_maxsize, max_retries, pool_block)

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        """Send `request` with the merged `anthropic-beta` header set on it."""
        # HTTPAdapter.send's own parameters (typed as each requests version types them),
        # passed on by position: `**kwargs` would copy requests' keyword arguments into a
        # new dict twice per request.
        rules = self.rules
        value = rules.value()
        if not value or (rules.hosts is not None and not self._applies(request.url)):
            return super().send(request, stream, timeout, verify, cert, proxies)
        return send_merged(super().send, rules, value, request, (stream, timeout, verify, cert, proxies))

    # The last URL's answer to `hosts`: parsing a URL costs more than the rest of `send`,
    # and a client mostly calls one endpoint. A class default, so unpickled adapters have it.
    _last_url: tuple[str | None, bool] = (None, False)

    def _applies(self, url: str | None) -> bool:
        last, applies = self._last_url
        if url != last:
            hosts = self.rules.hosts
            applies = hosts is not None and hosts(urlsplit(url or "").hostname or "")
            self._last_url = (url, applies)  # one tuple store: safe across threads
        return applies


# The caller's own `anthropic-beta` value while `send_merged` sends: what adapters below
# it see as the request's own value partly came from it.
_callers: ContextVar[tuple[str | bytes | None] | None] = ContextVar(
    "beta_middleware_requests_callers", default=None
)


def send_merged(
    send: Callable[..., Response], rules: Rules, value: str, request: PreparedRequest, args: tuple[Any, ...]
) -> Response:
    """Send `request` through `send` (an adapter's `send`) with `value` merged into its header.

    `value` is `rules.value()`, not empty, and the request's host is one of `rules.hosts`:
    `BetaAdapter.send` checks both first. The process-wide installation reuses this.
    """
    headers = request.headers
    own = headers.get(HEADER)
    if own:
        value = sent(_text(own), rules.added())
    if value == own:  # nothing new: left as it was
        return send(request, *args)
    headers[HEADER] = value
    body = request.body  # what it is before sending: sending may use it up
    # Under another adapter that added betas (the installation's over a mounted
    # BetaAdapter) the caller's own value is the one that adapter found.
    callers = _callers.get()
    caller = own if callers is None else callers[0]
    token = _callers.set((caller,))
    try:
        response = send(request, *args)
        if rules.drop_rejected and _drop.is_rejection_status(response.status_code):
            response = _dropping(send, rules, request, body, caller, value, response, args)
    except BaseException:
        _put_back(request, own)  # a caller who sends the request again sends what it set
        raise
    finally:
        _callers.reset(token)
    if 300 <= response.status_code < 400 and response.is_redirect:
        # requests builds the next hop from `request`: it must carry only what the
        # caller set; the redirect response keeps a copy of what was sent.
        response.request = request.copy()
        _put_back(request, own)
    return response


def _dropping(
    send: Callable[..., Response],
    rules: Rules,
    request: PreparedRequest,
    body: object,
    own: str | bytes | None,
    value: str,
    response: Response,
    args: tuple[Any, ...],
) -> Response:
    """After a 4xx to `request` (sent with `value`): resend once without the rejected names."""
    if _drop.was_resent(response) or _drop.resending.get():
        return response  # a layer below already sent it again, or this is a resend: once is the limit
    mine = _drop.ours((value,), (_text(own),) if own else ())
    take = _drop.learn(rules, rejection(response), mine)
    # bytes and str bodies can be sent again; generators and files are consumed by sending
    if not take or not isinstance(body, (bytes, str, type(None))):
        return response
    kept = _drop.without((value,), take)
    if kept is None:
        _put_back(request, own)
    else:
        request.headers[HEADER] = kept
    response.close()
    response = _drop.resend(lambda request: send(request, *args), request)
    _drop.mark_resent(response)
    if _drop.is_rejection_status(response.status_code):
        _drop.learn(rules, rejection(response), mine)
    return response


def _text(own: str | bytes) -> str:
    """A header value as text: requests allows bytes values, which HTTP sends as Latin-1."""
    return own.decode("latin-1") if isinstance(own, bytes) else own


def _put_back(request: PreparedRequest, own: str | bytes | None) -> None:
    """Give `request` back the `anthropic-beta` value the caller set (`None`: none)."""
    if own is None:
        request.headers.pop(HEADER, None)
    else:
        request.headers[HEADER] = own
