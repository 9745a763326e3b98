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
        if rules.hosts is None or rules.hosts(urlsplit(request.url or "").hostname or ""):
            own = request.headers.get(HEADER)
            if isinstance(own, bytes):  # requests allows bytes values; HTTP sends them as Latin-1
                own = own.decode("latin-1")
            value = rules.header((own,) if own else ())
            if value is not None and value != own:
                request = request.copy()
                request.headers[HEADER] = value
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
