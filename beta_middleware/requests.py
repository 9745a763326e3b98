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

from ._header import HEADER, Rules

__all__ = ["BetaAdapter"]


class BetaAdapter(HTTPAdapter):
    """An `HTTPAdapter` that adds the active betas to the `anthropic-beta` header.

    Takes `HTTPAdapter`'s arguments (`max_retries`, `pool_maxsize`, ...) plus:

    Args:
        betas: names this adapter always sends (a name or an iterable of names).
        hosts: `None` for every request; otherwise the host names (`*.example.com`
            for subdomains) whose requests get betas.

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
    ) -> None:
        self.rules = Rules(betas, hosts)  # validates before anything is built
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
        return super().send(request, *args, **kwargs)
