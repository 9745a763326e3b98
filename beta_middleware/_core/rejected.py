"""Beta rejections: `UnsupportedBetaError`, and the names the API refused, read from a response or body.

Three shapes of the same HTTP 400 are recognised, case-insensitively:
- `Unsupported beta header: NAME` (the documented one, in `error.message`);
- ``Unexpected value(s) `a`, `b` for the `anthropic-beta` header. ...``;
- `invalid beta flag` (Bedrock, possibly as a `ValidationException`), which names nothing.

Objects are recognised by the classes of the stacks already imported, so nothing absent
is ever imported here. Nor is anything else at import: `import beta_middleware` loads
this module for `UnsupportedBetaError`, and `re` and `json` are loaded on the first look
at a message.
"""

from __future__ import annotations

import sys
from functools import cache

from .tokens import is_token

TYPE_CHECKING = False  # `typing` is not imported at run time: it costs start-up
if TYPE_CHECKING:
    import re
    from typing import Any, TypeVar

    R = TypeVar("R")

__all__ = [
    *("LIMIT", "PIECE", "UnsupportedBetaError", "from_body", "parse", "raise_for_betas"),
    *("rejected_betas", "rejection"),
]

# The most of a response body read and decoded to look for a rejection: one is a few
# hundred bytes, and a body that does not end within this is no rejection.
LIMIT = 64 * 1024
PIECE = 64  # compressed bytes decoded at a time: a bomb expands one piece, never the body


class UnsupportedBetaError(Exception):
    """The API refused one or more beta names (HTTP 400 `Unsupported beta header`).

    Build one from a response, an anthropic `APIStatusError`, a JSON body or a str/bytes
    body with `UnsupportedBetaError.from_response(obj)`, or raise it with `raise_for_betas`.

    Attributes:
        betas: the refused names, in the order the API gave them; empty when the
            error names none (Bedrock's `invalid beta flag`).
        status_code: the HTTP status of the response, when known.
        message: the API's error message.
    """

    __module__ = "beta_middleware"

    def __init__(
        self,
        message: str,
        *,
        betas: tuple[str, ...] = (),
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.betas = betas
        self.status_code = status_code

    def __repr__(self) -> str:
        return (
            f"UnsupportedBetaError({self.message!r}, betas={self.betas!r}, status_code={self.status_code!r})"
        )

    @classmethod
    def from_response(cls, obj: object) -> UnsupportedBetaError | None:
        """The error `obj` holds when it is a beta rejection, else None.

        `obj` is what `rejected_betas` takes: a requests/httpx/httpx2 `Response`, an
        anthropic `APIStatusError`, a parsed JSON body, or a str/bytes body.
        """
        return rejection(obj)


# Every look at a message is a single forward scan (`str.find`, or a run of blanks that
# one greedy pattern matches), and each character is scanned a bounded number of times:
# parsing is linear in the message (tests/test_rejected.py times it on hostile messages).
# Backtracking regexes such as `\s+(.*?)\s+for the` took cubic time on a run of spaces.
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # keeps every index
_EDGES = "'\"`.;:()[] \t"


@cache
def _space() -> re.Pattern[str]:
    """The pattern of a run of blanks: one greedy run with nothing after it, that never backtracks."""
    import re

    return re.compile(r"\s*")


def _blanks(text: str, pos: int) -> int:
    """The end of the run of blanks (Unicode white space, line breaks too) at `pos`."""
    match = _space().match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _line_end(text: str, pos: int) -> int:
    """The end of the line `pos` is on: the first CR or LF from `pos`, or the end of `text`."""
    end = len(text)
    for char in "\r\n":
        at = text.find(char, pos, end)
        if at >= 0:
            end = at
    return end


def _names(pieces: list[str]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for piece in pieces:
        words = piece.split(None, 1)
        name = words[0].strip(_EDGES) if words else ""
        if name and is_token(name):
            names[name] = None
    return tuple(names)


def _unsupported(message: str, low: str) -> tuple[str, ...] | None:
    """`Unsupported beta header(s): a, b` up to the end of the line."""
    marker = "unsupported beta header"
    at = low.find(marker, 0)
    while at >= 0:
        end = at + len(marker)
        end = _blanks(message, end + (low[end : end + 1] == "s"))
        if message[end : end + 1] == ":":
            start = _blanks(message, end + 1)  # blanks after the colon, line breaks too
            names = message[start : _line_end(message, start)]
            return _names(names.split(","))
        at = low.find(marker, end)  # the marker cannot overlap itself
    return None


def _unexpected(message: str, low: str) -> tuple[str, ...] | None:
    """``Unexpected value(s) `a`, `b` for the `anthropic-beta` header``: backticks optional."""
    marker = "unexpected value"
    at = low.find(marker, 0)
    while at >= 0:
        start = at + len(marker)
        start += low[start : start + 1] == "s"
        start += 3 * (low[start : start + 3] == "(s)")
        if message[start : start + 1].isspace():
            break
        at = low.find(marker, start)
    else:
        return None
    # The names end at the first `for the anthropic-beta header` after the first such
    # start; a later start has no other end, so one search from here decides.
    end = low.find("for the", start + 1)
    while end >= 0:
        if end - 1 > start and message[end - 1].isspace() and _header_follows(message, low, end + 7):
            names = message[start:end]
            quoted = names.split("`")[1:-1:2]  # each run between two backticks
            return _names(quoted if quoted else names.split(","))
        end = low.find("for the", end + 7)  # the marker cannot overlap itself
    return None


def _header_follows(message: str, low: str, pos: int) -> bool:
    """Whether blanks, `anthropic-beta` (backticks optional), blanks and `header` start at `pos`."""
    at = _blanks(message, pos)
    if at == pos:
        return False
    at += low[at : at + 1] == "`"
    if low[at : at + 14] != "anthropic-beta":
        return False
    at += 14
    at += low[at : at + 1] == "`"
    after = _blanks(message, at)
    return after > at and low[after : after + 6] == "header"


def parse(message: str) -> tuple[str, ...] | None:
    """The names `message` rejects; `()` when it names none; None when it is no rejection.

    Markers are matched ASCII case-insensitively; time is linear in `len(message)`.
    """
    low = message.translate(_LOWER)
    names = _unsupported(message, low)
    if names is None:
        names = _unexpected(message, low)
    if names is None and low.find("invalid beta flag", 0) >= 0:
        return ()
    return names


def _message(body: object) -> str | None:
    """The error message of a body: `error.message`, or a top-level `message` (Bedrock)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            import json  # here, not at import: `import beta_middleware` loads this module

            parsed: object = json.loads(body)
        except RecursionError:
            return None  # nested deeper than the stack allows: no error object is
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


def _within_limit(content: bytes) -> bytes | None:
    """A response body, or None (no rejection) past `LIMIT`, as with drop_rejected."""
    return content if len(content) <= LIMIT else None


def _source(obj: object) -> tuple[int | None, object]:
    """The status (None: unknown) and body of `obj`."""
    if isinstance(obj, (str, bytes, bytearray, memoryview, dict, list)):
        return None, obj
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(obj, requests.Response):
        return obj.status_code, _within_limit(obj.content)
    for name in ("httpx", "httpx2"):
        stack = sys.modules.get(name)
        if stack is not None and isinstance(obj, stack.Response):
            return obj.status_code, _within_limit(_httpx_body(obj))
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


def raise_for_betas(response: R) -> R:
    """Raise `UnsupportedBetaError` when `response` is a beta rejection; else return it.

    For raw requests/httpx users, like `raise_for_status()` but for this one error:
    `data = raise_for_betas(session.post(url, json=body)).json()`.
    """
    error = rejection(response)
    if error is not None:
        raise error
    return response
