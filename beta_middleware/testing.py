"""Assertions on the betas a request carried, for tests.

```python
assert_betas(response, "files-api-2025-04-14")
responses.add(responses.POST, url, match=[matcher("files-api-2025-04-14")])
```

Works on a requests `PreparedRequest` or `Response`, an httpx or httpx2 `Request` or
`Response`, and a `responses` call. No HTTP stack is imported here: an object can only
be of a stack's type if that stack is already imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from ._core.header import HEADER, split
from ._core.known import warn_unknown
from ._core.names import parse_names

__all__ = ["assert_betas", "matcher", "sent_betas"]

_SUPPORTED = (
    "a requests PreparedRequest or Response, an httpx or httpx2 Request or Response, or a responses call"
)


def _stack_type(module: str, name: str) -> type | None:
    """`module.name` if that stack is imported (never imports it)."""
    stack = sys.modules.get(module)
    found = getattr(stack, name, None)
    return found if isinstance(found, type) else None


def _no_request(response: object) -> ValueError:
    return ValueError(f"{response!r} has no request: its betas are unknown")


def _find(obj: object) -> tuple[Any, list[str]]:
    """The request `obj` stands for, and its `anthropic-beta` header values."""
    call = _stack_type("responses", "Call")
    if call is not None and isinstance(obj, call):
        obj = obj.request  # type: ignore[attr-defined]
    for stack in ("httpx", "httpx2"):
        response, request = _stack_type(stack, "Response"), _stack_type(stack, "Request")
        if response is not None and isinstance(obj, response):
            try:
                obj = obj.request  # type: ignore[attr-defined]
            except RuntimeError:  # a Response built by hand has no request
                raise _no_request(obj) from None
        if request is not None and isinstance(obj, request):
            return obj, obj.headers.get_list(HEADER)  # type: ignore[attr-defined]
    response, prepared = _stack_type("requests", "Response"), _stack_type("requests", "PreparedRequest")
    if response is not None and isinstance(obj, response):
        if obj.request is None:  # type: ignore[attr-defined]
            raise _no_request(obj)
        obj = obj.request  # type: ignore[attr-defined]
    if prepared is not None and isinstance(obj, prepared):
        value = obj.headers.get(HEADER)  # type: ignore[attr-defined]
        if isinstance(value, bytes):  # requests allows bytes values; HTTP sends them as Latin-1
            value = value.decode("latin-1")
        return obj, [value] if value else []
    raise TypeError(f"sent_betas() takes {_SUPPORTED}, got {obj!r}")


def _read(obj: object) -> tuple[Any, tuple[str, ...]]:
    """The request `obj` stands for, and the names it carried."""
    request, values = _find(obj)
    return request, split(values)  # the package's own reading of a header


def sent_betas(obj: object) -> tuple[str, ...]:
    """The beta names `obj`'s request carried in its `anthropic-beta` header, in order.

    `obj` is a requests `PreparedRequest` or `Response`, an httpx/httpx2 `Request` or
    `Response` (for a response: the request that was sent for it), or a `responses`
    call. Header values are read as the integrations read them: split on commas,
    blanks dropped, each name once.
    """
    return _read(obj)[1]


def _expected(names: tuple[str | Iterable[str], ...], exact: bool, caller: str) -> tuple[str, ...]:
    expected = parse_names(names)
    warn_unknown(expected)
    if not expected and not exact:
        raise TypeError(
            f"{caller}() needs the names to look for, or exact=True to require that no betas were sent"
        )
    return expected


def _mismatch(sent: tuple[str, ...], expected: tuple[str, ...], exact: bool) -> list[tuple[str, str]] | None:
    """None if `sent` satisfies `expected`; otherwise the facts that explain why not."""
    missing = tuple(n for n in expected if n not in sent)
    unexpected = tuple(n for n in sent if n not in expected)
    if not missing and (not exact or sent == expected):
        return None
    facts = [
        ("expected", f"{expected} ({'exactly, in this order' if exact else 'at least'})"),
        ("sent", repr(sent)),
        ("missing", repr(missing)),
        ("unexpected", repr(unexpected)),
    ]
    if not missing and not unexpected:
        facts.append(("order", "the same names, in another order"))
    return facts


def assert_betas(obj: object, *names: str | Iterable[str], exact: bool = False) -> None:
    """Assert that `obj`'s request carried the betas `names` (see `sent_betas` for `obj`).

    Each positional argument is a name or an iterable of names. By default the request
    must carry at least these names, in any order; with `exact=True` exactly these, in
    this order (and `assert_betas(obj, exact=True)` asserts that none were sent).

    Raises:
        AssertionError: showing what was expected, sent, missing and unexpected.
    """
    expected = _expected(names, exact, "assert_betas")
    request, sent = _read(obj)
    facts = _mismatch(sent, expected, exact)
    if facts is not None:
        lines = [f"{HEADER} of {request.method} {request.url} does not match"]
        lines += [f"  {key + ':':<11} {value}" for key, value in facts]
        raise AssertionError("\n".join(lines))


def matcher(*names: str | Iterable[str], exact: bool = False) -> Callable[[Any], tuple[bool, str]]:
    """A `responses` matcher: the request must carry the betas `names`.

    `responses.add(method, url, match=[matcher("files-api-2025-04-14")])`. Names and
    `exact` mean what they mean for `assert_betas`. The matcher returns
    `(matched, reason)`; `reason` says what was missing or unexpected.
    """
    expected = _expected(names, exact, "matcher")

    def match(request: Any) -> tuple[bool, str]:
        facts = _mismatch(sent_betas(request), expected, exact)
        if facts is None:
            return True, ""
        return False, f"{HEADER} does not match: " + "; ".join(f"{k} {v}" for k, v in facts)

    return match
