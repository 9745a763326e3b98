"""Beta rejections: which names the API refused, read from a response, an error or a body.

Three shapes of the same HTTP 400 are recognised, case-insensitively:
- `Unsupported beta header: NAME` (the documented one, in `error.message`);
- ``Unexpected value(s) `a`, `b` for the `anthropic-beta` header. ...``;
- `invalid beta flag` (Bedrock, possibly as a `ValidationException`), which names nothing.

Objects are recognised by the classes of the stacks already imported, so nothing absent
is ever imported here.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TypeVar

from ._errors import UnsupportedBetaError
from ._names import TOKEN

__all__ = ["parse", "raise_for_betas", "rejected_betas", "rejection"]

_UNSUPPORTED = re.compile(r"unsupported beta headers?\s*:\s*(?P<names>[^\r\n]*)", re.IGNORECASE)
_UNEXPECTED = re.compile(
    r"unexpected values?(?:\(s\))?\s+(?P<names>.*?)\s+for the\s+`?anthropic-beta`?\s+header",
    re.IGNORECASE | re.DOTALL,
)
_UNNAMED = re.compile(r"invalid beta flag", re.IGNORECASE)
_QUOTED = re.compile(r"`([^`]*)`")
_EDGES = "'\"`.;:()[] \t"


def _names(pieces: list[str]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for piece in pieces:
        words = piece.split()
        name = words[0].strip(_EDGES) if words else ""
        if TOKEN.fullmatch(name):
            names[name] = None
    return tuple(names)


def parse(message: str) -> tuple[str, ...] | None:
    """The names `message` rejects; `()` when it names none; None when it is no rejection."""
    match = _UNSUPPORTED.search(message)
    if match is not None:
        return _names(match["names"].split(","))
    match = _UNEXPECTED.search(message)
    if match is not None:
        quoted = _QUOTED.findall(match["names"])
        return _names(quoted if quoted else match["names"].split(","))
    if _UNNAMED.search(message) is not None:
        return ()
    return None


def _message(body: object) -> str | None:
    """The error message of a body: `error.message`, or a top-level `message` (Bedrock)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed: object = json.loads(body)
        except ValueError:
            return body
        if isinstance(parsed, str):
            return parsed
        body = parsed
    if not isinstance(body, dict):
        return None
    return _dict_message(body)


def _dict_message(body: dict[Any, Any]) -> str | None:
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    for key in ("message", "Message"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def from_body(status: int | None, body: object) -> UnsupportedBetaError | None:
    """The rejection in `body` of a response with `status` (None: unknown), if any."""
    if status is not None and not 400 <= status < 500:
        return None  # a success may well quote such a message in its content
    message = _message(body)
    if message is None:
        return None
    names = parse(message)
    if names is None:
        return None
    return UnsupportedBetaError(message, betas=names, status_code=status)


def _httpx_body(response: Any) -> bytes:
    try:
        content: bytes = response.content
    except Exception:  # ResponseNotRead: a streamed response
        try:
            content = response.read()
        except RuntimeError as exc:  # an async stream cannot be read here
            raise TypeError(
                f"{response!r} is a streamed async response that was not read: "
                "call `await response.aread()` first"
            ) from exc
    return content


def _source(obj: object) -> tuple[int | None, object]:
    """The status (None: unknown) and body of `obj`."""
    if isinstance(obj, (str, bytes, bytearray, memoryview, dict, list)):
        return None, obj
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(obj, requests.Response):
        return obj.status_code, obj.content
    for name in ("httpx", "httpx2"):
        stack = sys.modules.get(name)
        if stack is not None and isinstance(obj, stack.Response):
            return obj.status_code, _httpx_body(obj)
    anthropic = sys.modules.get("anthropic")
    if anthropic is not None:
        if isinstance(obj, anthropic.APIStatusError):
            return obj.status_code, obj.message if obj.body is None else obj.body
        wrappers = tuple(
            getattr(anthropic, n) for n in ("APIResponse", "AsyncAPIResponse") if hasattr(anthropic, n)
        )
        if isinstance(obj, wrappers):
            return _source(obj.http_response)
    raise TypeError(
        f"expected a requests/httpx/httpx2 Response, an anthropic APIStatusError, a JSON body "
        f"or a str/bytes body, got {obj!r}"
    )


def rejection(obj: object) -> UnsupportedBetaError | None:
    """The `UnsupportedBetaError` `obj` holds, or None; see `UnsupportedBetaError.from_response`."""
    status, body = _source(obj)
    return from_body(status, body)


def rejected_betas(obj: object) -> tuple[str, ...]:
    """The beta names the API refused in `obj`, in the order it gave them.

    `obj` is a requests/httpx/httpx2 `Response` (a streamed sync one is read), an anthropic
    `APIStatusError` or `APIResponse`, a parsed JSON body, or a str/bytes body. Returns
    `()` when `obj` is no beta rejection or names nothing (Bedrock's `invalid beta flag`);
    use `UnsupportedBetaError.from_response(obj)` to tell those apart.
    """
    error = rejection(obj)
    return () if error is None else error.betas


R = TypeVar("R")


def raise_for_betas(response: R) -> R:
    """Raise `UnsupportedBetaError` when `response` is a beta rejection; else return it.

    For raw requests/httpx users, like `raise_for_status()` but for this one error:
    `data = raise_for_betas(session.post(url, json=body)).json()`.
    """
    error = rejection(response)
    if error is not None:
        raise error
    return response
