"""requests integration: `BetaAdapter`, an `HTTPAdapter` that sends the active betas.

```python
session = requests.Session()
session.mount("https://api.anthropic.com/", BetaAdapter())  # ends in "/": requests matches prefixes
```
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from ._core.errors import missing_stack

try:
    from requests import PreparedRequest, Response
    from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter
    from urllib3.exceptions import DecodeError
    from urllib3.response import HTTPResponse
    from urllib3.util.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without requests
    raise ImportError(missing_stack("requests", "requests")) from exc

from ._core import drop, log
from ._core.header import (
    HEADER,
    Below,
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
from ._core.names import NameSet
from ._core.rejected import LIMIT, PIECE, UnsupportedBetaError, from_body

__all__ = ["SENT", "BetaAdapter", "applies", "forget", "send_below", "send_merged"]


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
        if names_given(pool_connections):  # BetaAdapter("files-api-...")
            raise TypeError(
                f"BetaAdapter's first argument is HTTPAdapter's pool_connections, got {pool_connections!r}; "
                f"beta names go in betas=: BetaAdapter(betas={pool_connections!r})"
            )
        self.rules = Rules(betas, hosts, drop_rejected)  # validates before anything is built
        self.rules.owner = weakref.ref(self)  # for logs to name this adapter
        super().__init__(pool_connections, pool_maxsize, max_retries, pool_block)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # a copy's rules are new: they belong to the copy
        self.rules.owner = weakref.ref(self)

    def __repr__(self) -> str:
        return f"BetaAdapter({settings(self.rules)})"

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
        # passed on by keyword, as requests itself does: adapters and test doubles that
        # take `send(request, **kwargs)` (requests-mock, older responses) refuse positions.
        rules = self.rules
        under = below.get() if owning else None
        if under is not None:  # another of ours above owns the request: see `Below`
            return send_below(super().send, rules, under, request, stream, timeout, verify, cert, proxies)
        added = rules.added()
        if not added.joined or (rules.hosts is not None and not applies(self, request.url)):
            if added.joined and cached(DEBUG) is not False and enabled(DEBUG):
                log.outside(rules, _host(request))
            if getattr(request, SENT, None) is not None:
                forget(request)  # sent before with betas: send what the caller set
            return super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
        return send_merged(super().send, rules, added, request, stream, timeout, verify, cert, proxies)

    # The last URL's answer to `hosts` (see `applies`). A class default, so unpickled
    # adapters have it.
    last_url: tuple[str | None, bool] = (None, False)


def applies(adapter: Any, url: str | None) -> bool:
    """Whether a request to `url` gets betas from `adapter`, whose `rules.hosts` is set.

    `adapter` is a `BetaAdapter` or the installation's adapter: it has `rules` and
    `last_url`, the last URL's answer. Parsing a URL costs more than the rest of `send`,
    and a client mostly calls one endpoint.
    """
    last: str | None
    matches: bool
    last, matches = adapter.last_url
    if url != last:
        hosts = adapter.rules.hosts
        matches = hosts is not None and hosts(urlsplit(url or "").hostname or "")
        adapter.last_url = (url, matches)  # one tuple store: safe across threads
    return matches


# A PreparedRequest attribute; requests has no place of its own for it, and `copy()`
# does not carry it (a redirect hop is built from a request given back the caller's
# value). An attribute, not `request.__dict__`: reading that makes CPython build the
# instance's dict, which slows every later attribute access on the request. After a
# send by the owner of the request (see `Below`) it holds (the header value the send
# left, the caller's own value): a request sent again whose header still holds that
# value starts from the caller's own, whichever session or layer sends it. None, or
# nothing: not sent by us.
SENT = "_beta_middleware_sent"


def forget(request: PreparedRequest) -> None:
    """Give `request`, sent before with betas, back what the caller set, unless it changed since."""
    left, own = getattr(request, SENT)
    setattr(request, SENT, None)
    if request.headers.get(HEADER) == left:
        _put_back(request, own)


def send_below(
    send: Callable[..., Response],
    rules: Rules,
    under: Below,
    request: PreparedRequest,
    stream: bool,
    timeout: Any,
    verify: Any,
    cert: Any,
    proxies: Any,
) -> Response:
    """Send `request`, owned by another of ours above, with this layer's own `betas=` added."""
    names = rules.below_names(under)
    if names and (rules.hosts is None or rules.hosts(urlsplit(request.url or "").hostname or "")):
        if rules.drop_rejected and not under.resend:
            # what it would add, present or not: the owner's refusal of one is this layer's too
            under.added.append((rules, names.members))
        if names.members <= under.sent:  # the owner has put them all on already
            return send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        own = request.headers.get(HEADER)
        text = _text(own) if own else None
        value = sent(text, names)
        if value != text:
            request.headers[HEADER] = value
        if cached(DEBUG) is not False and enabled(DEBUG):
            log.sent(rules, _host(request), own, value, under)
    return send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def send_merged(
    send: Callable[..., Response],
    rules: Rules,
    added: NameSet,
    request: PreparedRequest,
    stream: bool,
    timeout: Any,
    verify: Any,
    cert: Any,
    proxies: Any,
    stacked: bool = False,
) -> Response:
    """Send `request` through `send` (an adapter's `send`) with `added` merged into its header.

    The caller owns the request (no layer of ours above it): `added` is `rules.added()`,
    read once per request, not empty, and the request's host is one of `rules.hosts` -
    `BetaAdapter.send` checks both first. `stacked`: `send` may reach another layer of ours, which is then
    told so (see `Below`). The process-wide installation reuses this. The rest are
    `HTTPAdapter.send`'s parameters, passed on by keyword.
    """
    headers = request.headers
    own = current = headers.get(HEADER)
    mark: Any = getattr(request, SENT, None)
    if mark is not None and current == mark[0]:  # what an earlier send left
        own = mark[1]
    value = added.joined
    if own:
        text = _text(own)  # requests allows bytes
        value = added.after.get(text) or sent(text, added)
    if value == own:  # nothing new: what the caller set
        if current != own:
            _put_back(request, own)
        setattr(request, SENT, None)
        return send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
    headers[HEADER] = value
    if cached(DEBUG) is not False and enabled(DEBUG):
        log.sent(rules, _host(request), own, value)
    body = request.body  # what it is before sending: sending may use it up
    under = Below(added.members) if stacked else None
    token = hand_down(under) if under is not None else None
    try:
        response = send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        if token is not None:
            take_back(token)
            token = None
        if (rules.drop_rejected or (under is not None and under.added)) and drop.is_rejection_status(
            response.status_code
        ):
            options = dict(stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
            response = _dropping(send, rules, request, body, own, value, response, options, under)
    except BaseException:
        if token is not None:
            take_back(token)
        _put_back(request, own)  # a caller who sends the request again sends what it set
        setattr(request, SENT, mark)  # and it is as an earlier send left it
        raise
    # what this send leaves on the request, for a later send of it
    setattr(request, SENT, (headers.get(HEADER) if stacked else value, own))
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
    options: dict[str, Any],
    under: Below | None,
) -> Response:
    """After a 4xx to `request` (this layer set `value`): resend once without the rejected names."""
    layers = [(rules, drop.ours((value,), (_text(own),) if own else ()))] if rules.drop_rejected else []
    if under is not None:
        layers += under.added
    sent_value = _text(request.headers.get(HEADER) or "")
    take = drop.learn(layers, _rejection(response, request.method), (sent_value,))
    # bytes and str bodies can be sent again; generators and files are consumed by sending
    if not take or not isinstance(body, (bytes, str, type(None))):
        return response
    # A copy: the first send's `response.request` (and what `responses` recorded) keep
    # what that send carried.
    resend = request.copy()
    kept = drop.without((sent_value,), take)
    if kept is None:
        _put_back(resend, own)
    else:
        resend.headers[HEADER] = kept
    response.close()
    token = hand_down(Below(left_off=take, resend=True))  # no layer below puts a name back
    try:
        response = send(resend, **options)
    finally:
        take_back(token)
    if drop.is_rejection_status(response.status_code):
        drop.learn(layers, _rejection(response, resend.method), (sent_value,))
    return response


def _host(request: PreparedRequest) -> str:
    """The host `request` goes to, for the logs."""
    return urlsplit(request.url or "").hostname or ""


def _text(own: str | bytes) -> str:
    """A header value as text: requests allows bytes values, which HTTP sends as Latin-1."""
    return own.decode("latin-1") if isinstance(own, bytes) else own


def _put_back(request: PreparedRequest, own: str | bytes | None) -> None:
    """Give `request` back the `anthropic-beta` value the caller set (`None`: none)."""
    if own is None:
        request.headers.pop(HEADER, None)
    else:
        request.headers[HEADER] = own


def _rejection(response: Response, method: str | None) -> UnsupportedBetaError | None:
    """The rejection in at most 64 KiB of `response`'s body; the caller then gets it whole, unread.

    The raw bytes are read from `response.raw` up to the limit or the end; a body that ends
    there is decoded by urllib3 a piece at a time (at most 64 KiB of it) and looked at.
    Either way `response.raw` becomes a response that gives the bytes read, then the rest,
    so `stream=True`, `iter_content` and `raw.read()` see the body as sent.
    """
    source: HTTPResponse = response.raw
    chunks: list[bytes] = []
    size = 0
    try:
        # Until past the limit or an empty read: the end of the body, where urllib3 also
        # finds a body shorter than its Content-Length (and raises, as requests would).
        while size <= LIMIT:
            chunk = source.read(LIMIT + 1 - size, decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except Exception as error:  # the body broke off: the caller meets the error after the bytes read
        response.raw = _Replayed(source, b"".join(chunks), method, error)
        return None
    raw = b"".join(chunks)
    response.raw = _Replayed(source, raw, method)
    if len(raw) > LIMIT:
        return None
    if source.headers.get("content-encoding") is None:
        return from_body(response.status_code, raw)
    probe = HTTPResponse(io.BytesIO(raw), headers=source.headers, preload_content=False, decode_content=True)
    decoded: list[bytes] = []
    size = 0
    try:
        for chunk in probe.stream(PIECE, decode_content=True):
            size += len(chunk)
            if size > LIMIT:
                return None
            decoded.append(chunk)
    except DecodeError:
        return None  # the caller meets the error when it reads the body
    return from_body(response.status_code, b"".join(decoded))


class _Chain(io.RawIOBase):
    """The raw bytes read, then the rest of `source`'s raw body - or `error`, where it broke off."""

    def __init__(self, head: bytes, source: HTTPResponse, error: Exception | None = None) -> None:
        self._head = io.BytesIO(head)
        self._source = source
        self._error = error

    def read(self, amt: int | None = -1) -> bytes:
        whole = amt is None or amt < 0
        data = self._head.read(-1 if whole else amt)
        if self._error is not None and (whole or not data):
            raise self._error  # urllib3 passes its own errors on, and requests maps them
        if whole:
            return data + self._source.read(decode_content=False)
        return data or self._source.read(amt, decode_content=False)

    def close(self) -> None:
        self._source.close()
        super().close()


class _Replayed(HTTPResponse):
    """`source` again from the start: urllib3 decodes the bytes read and the rest as one body.

    It hands `source`'s connection back to the pool, and keeps `source`'s http.client
    response, from which requests reads cookies; no public name gives it.
    """

    def __init__(
        self, source: HTTPResponse, head: bytes, method: str | None, error: Exception | None = None
    ) -> None:
        self._source = source
        extra: dict[str, Any] = (
            {"version_string": source.version_string} if hasattr(source, "version_string") else {}
        )
        super().__init__(
            _Chain(head, source, error),
            headers=source.headers,
            status=source.status,
            version=source.version,
            reason=source.reason,
            preload_content=False,
            decode_content=source.decode_content,
            original_response=getattr(source, "_original_response", None),
            msg=getattr(source, "msg", None),
            retries=source.retries,
            enforce_content_length=source.enforce_content_length,
            request_method=method,
            request_url=getattr(source, "url", None),
            **extra,
        )

    def release_conn(self) -> None:
        self._source.release_conn()
