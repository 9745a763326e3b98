"""requests integration: `BetaAdapter`, an `HTTPAdapter` that sends the active betas.

```python
session = requests.Session()
session.mount("https://api.anthropic.com", BetaAdapter())
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ._compat import missing_stack

try:
    from requests import PreparedRequest, Response
    from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter
    from requests.structures import CaseInsensitiveDict
    from urllib3.util.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without requests
    raise ImportError(missing_stack("requests", "requests")) from exc

from . import _drop
from ._header import HEADER, Rules
from ._rejected import rejection

__all__ = ["BetaAdapter"]


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

    The caller's `PreparedRequest` is never modified: the adapter sends a copy
    carrying the merged header, so a redirect (which requests builds from the
    original) carries only what the caller set until an adapter adds betas again.
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

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        """Send a copy of `request` carrying the merged `anthropic-beta` header."""
        rules = self.rules
        added = rules.added()
        if added.names and (rules.hosts is None or self._applies(request.url)):
            own = request.headers.get(HEADER)
            if isinstance(own, bytes):  # requests allows bytes values; HTTP sends them as Latin-1
                own = own.decode("latin-1")
            value = rules.merged((own,), added) if own else added.joined
            if value != own:
                request = _copy_with(request, value)
                if rules.drop_rejected:
                    return self._send_dropping(request, own, args, kwargs)
        return super().send(request, *args, **kwargs)

    def _send_dropping(
        self, request: PreparedRequest, own: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Response:
        """Send `request`; on a rejection of names this adapter added, resend once without them."""
        # bytes and str bodies can be sent again; generators and files are consumed by sending
        replayable = isinstance(request.body, (bytes, str, type(None)))
        response = super().send(request, *args, **kwargs)
        if not _drop.is_rejection_status(response.status_code):
            return response
        sent = str(request.headers[HEADER])  # the value set above
        mine = _drop.ours((sent,), (own,) if own else ())
        take = _drop.learn(self.rules, rejection(response), mine)
        if not take or not replayable:
            return response
        retry = request.copy()
        value = _drop.without((sent,), take)
        if value is None:
            del retry.headers[HEADER]
        else:
            retry.headers[HEADER] = value
        response.close()
        response = super().send(retry, *args, **kwargs)
        if _drop.is_rejection_status(response.status_code):
            _drop.learn(self.rules, rejection(response), mine)
        return response

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


def _copy_with(request: PreparedRequest, value: str) -> PreparedRequest:
    """A copy of `request` whose header is `value`: `request.copy()`, minus what costs.

    The copy is what keeps the caller's request clean for the redirect hops requests
    builds from it. `PreparedRequest.copy()` also copies the cookie jar and rebuilds the
    headers one by one, which costs more than the rest of this adapter's work per
    request. Neither is needed: the jar is never written through the sent request
    (requests copies the original again for each redirect hop), so the copy shares it;
    the headers' store is copied in one step. The fields are set one by one, as
    `copy()` does (copying `__dict__` would make every later attribute read slower).
    This reads the private `_store` of requests' `CaseInsensitiveDict` (tested), only
    for the exact types requests builds; anything else gets `request.copy()`.
    """
    headers = request.headers
    if type(request) is not PreparedRequest or type(headers) is not CaseInsensitiveDict:
        sent = request.copy()
        sent.headers[HEADER] = value
        return sent
    store = headers._store.copy()
    store[_KEY] = (HEADER, value)  # what `headers[HEADER] = value` stores
    sent = PreparedRequest.__new__(PreparedRequest)
    sent.method = request.method
    sent.url = request.url
    sent.headers = CaseInsensitiveDict.__new__(CaseInsensitiveDict)
    sent.headers._store = store
    sent._cookies = request._cookies
    sent.body = request.body
    sent.hooks = request.hooks
    sent._body_position = request._body_position
    return sent


_KEY = HEADER.lower()
