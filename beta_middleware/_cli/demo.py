"""`python -m beta_middleware demo`: betas sent through every installed stack, checked.

An embedded HTTP server on 127.0.0.1 records the `anthropic-beta` header it receives;
each stack sends the same steps - nested scopes, a header of the request's own, a
scope that turns betas off - and every received value is compared with the expected one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from .._core.header import HEADER
from .._core.scope import BetaScope, betas

__all__ = ["main"]

FILES = "files-api-2025-04-14"
CONTEXT = "context-1m-2025-08-07"
TOOLS = "token-efficient-tools-2025-02-19"


@dataclass(frozen=True)
class Step:
    """One request: the scopes it is made in, its own header, and what must arrive."""

    label: str
    scopes: tuple[BetaScope, ...]
    own: str | None
    expected: str | None


_outer, _inner = betas(FILES), betas(CONTEXT, FILES)
STEPS = (
    Step("(no scope)", (), None, None),
    Step(f'with betas("{FILES}")', (_outer,), None, FILES),
    Step(f'  with betas("{CONTEXT}", "{FILES}")', (_outer, _inner), None, f"{FILES},{CONTEXT}"),
    Step(f"    request sets {HEADER}: {TOOLS}", (_outer, _inner), TOOLS, f"{TOOLS},{FILES},{CONTEXT}"),
    Step("    with betas(replace=True)", (_outer, _inner, betas(replace=True)), None, None),
    Step("(after the scopes)", (), None, None),
)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({HEADER: self.headers.get(HEADER)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Run the echo server on 127.0.0.1 (a free port) and yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    # shutdown() waits for the server's next poll (half a second by default)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# Each sender is a client's `get`, called as get(url, headers=...).
SyncSend = Callable[..., Any]
AsyncSend = Callable[..., Awaitable[Any]]


def _received(response: Any) -> str | None:
    value: str | None = response.json()[HEADER]
    return value


def _sdk_get(client: Any, response_class: type) -> SyncSend:
    """An anthropic SDK client's raw `get`, called like the other stacks' `get`."""
    return lambda url, headers: client.get(url, cast_to=response_class, options={"headers": headers})


def _sdk(*, is_async: bool) -> tuple[Any, Callable[..., Any]]:
    """An anthropic SDK client on our transport, and `get` through the SDK's request path.

    anthropic >= 1.0 runs on httpx2, 0.x on httpx: each gets the transport of its stack.
    Raises ImportError when the SDK (or its stack) is not installed.
    """
    import anthropic

    if anthropic.__version__.startswith("0."):
        import httpx as stack

        from .. import httpx as integration
    else:
        import httpx2 as stack  # type: ignore[no-redef]

        from .. import httpx2 as integration  # type: ignore[no-redef]
    sdk: Any
    if is_async:
        http: Any = stack.AsyncClient(transport=integration.AsyncBetaTransport(), timeout=10)
        sdk = anthropic.AsyncAnthropic(api_key="demo", max_retries=0, http_client=http)
    else:
        http = stack.Client(transport=integration.BetaTransport(), timeout=10)
        sdk = anthropic.Anthropic(api_key="demo", max_retries=0, http_client=http)

    def get(url: str, headers: dict[str, str]) -> Any:
        return sdk.get(url, cast_to=stack.Response, options={"headers": headers})

    return sdk, get


@contextlib.contextmanager
def _sync_senders(url: str) -> Iterator[list[tuple[str, SyncSend]]]:
    senders: list[tuple[str, SyncSend]] = []
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(ImportError):
            import requests

            from ..requests import BetaAdapter

            session = stack.enter_context(requests.Session())
            session.mount("http://", BetaAdapter())
            senders.append(("requests", session.get))
        with contextlib.suppress(ImportError):
            import httpx

            from ..httpx import BetaTransport

            client = stack.enter_context(httpx.Client(transport=BetaTransport(), timeout=10))
            senders.append(("httpx", client.get))
        with contextlib.suppress(ImportError):
            import httpx2

            from ..httpx2 import BetaTransport as BetaTransport2

            client2 = stack.enter_context(httpx2.Client(transport=BetaTransport2(), timeout=10))
            senders.append(("httpx2", client2.get))
        with contextlib.suppress(ImportError):
            sdk, sdk_get = _sdk(is_async=False)
            stack.enter_context(sdk)
            senders.append(("sdk transport", sdk_get))
        with contextlib.suppress(ImportError):
            import anthropic

            from ..anthropic import STACK, BetaMiddleware  # the SDK's own stack: httpx2, or httpx on 0.x

            sdk = anthropic.Anthropic(api_key="demo", base_url=url, middleware=[BetaMiddleware()])
            stack.enter_context(sdk)
            senders.append(("sdk middleware", _sdk_get(sdk, STACK.Response)))
        yield senders


@contextlib.asynccontextmanager
async def _async_senders(url: str) -> AsyncIterator[list[tuple[str, AsyncSend]]]:
    senders: list[tuple[str, AsyncSend]] = []
    async with contextlib.AsyncExitStack() as stack:
        with contextlib.suppress(ImportError):
            import httpx

            from ..httpx import AsyncBetaTransport

            client = await stack.enter_async_context(httpx.AsyncClient(transport=AsyncBetaTransport()))
            senders.append(("httpx async", client.get))
        with contextlib.suppress(ImportError):
            import httpx2

            from ..httpx2 import AsyncBetaTransport as AsyncBetaTransport2

            client2 = await stack.enter_async_context(httpx2.AsyncClient(transport=AsyncBetaTransport2()))
            senders.append(("httpx2 async", client2.get))
        with contextlib.suppress(ImportError):
            asdk, asdk_get = _sdk(is_async=True)
            await stack.enter_async_context(asdk)
            senders.append(("sdk transport async", asdk_get))
        with contextlib.suppress(ImportError):
            import anthropic

            from ..anthropic import STACK, BetaMiddleware  # the SDK's own stack: httpx2, or httpx on 0.x

            sdk_async = anthropic.AsyncAnthropic(api_key="demo", base_url=url, middleware=[BetaMiddleware()])
            await stack.enter_async_context(sdk_async)
            senders.append(("sdk middleware async", _sdk_get(sdk_async, STACK.Response)))
        yield senders


Row = tuple[str, Step, "str | None"]


def _headers(step: Step) -> dict[str, str]:
    return {} if step.own is None else {HEADER: step.own}


def _run_sync(url: str) -> list[Row]:
    rows: list[Row] = []
    with _sync_senders(url) as senders:
        for name, send in senders:
            for step in STEPS:
                with contextlib.ExitStack() as scopes:
                    for scope in step.scopes:
                        scopes.enter_context(scope)
                    rows.append((name, step, _received(send(url, headers=_headers(step)))))
    return rows


async def _run_async(url: str) -> list[Row]:
    rows: list[Row] = []
    async with _async_senders(url) as senders:
        for name, send in senders:
            for step in STEPS:
                async with contextlib.AsyncExitStack() as scopes:
                    for scope in step.scopes:
                        await scopes.enter_async_context(scope)
                    rows.append((name, step, _received(await send(url, headers=_headers(step)))))
    return rows


WIDTH = 100  # columns of the report
SDK_NOTE = (
    "(sdk transport: the anthropic SDK on an http_client with BetaTransport;",
    " sdk middleware: the SDK with middleware=[BetaMiddleware()])",
)


def _wrapped(words: list[str], width: int, indent: str) -> list[str]:
    """`words` joined by ", " in lines of at most `width` columns, never splitting a word."""
    lines = [indent]
    for i, word in enumerate(words):
        piece = word + ("," if i < len(words) - 1 else "")
        if lines[-1].strip() and len(lines[-1]) + 1 + len(piece) > width:
            lines.append(indent)
        lines[-1] += (" " if lines[-1].strip() else "") + piece
    return lines


def _report(url: str, rows: list[Row], out: TextIO) -> int:
    """Print, step by step, what the server received from every stack; return the number wrong."""
    names = list(dict.fromkeys(name for name, _, _ in rows))
    print(f"server on {url} received one request per step through each of {len(names)} stacks:", file=out)
    print(*_wrapped(names, WIDTH, "  "), sep="\n", file=out)
    if any(name.startswith("sdk ") for name in names):
        print(*(f"  {line}" for line in SDK_NOTE), sep="\n", file=out)
    # A step's values go under its label, indented; the verdicts line up in one column.
    indent = {step: " " * (len(step.label) - len(step.label.lstrip()) + 4) for step in STEPS}
    column = max(
        len(HEADER) + 20,
        *(len(indent[step]) + len(value or "(none)") for name, step, value in rows),
        *(len(indent[step]) + len(step.expected or "(none)") for step in STEPS),
    )
    print(f"\n{'scope, then the ' + HEADER + ' received':<{column}}  check", file=out)
    failures = 0
    for step in STEPS:
        got = [(name, value) for name, done, value in rows if done is step]
        wrong = [(name, value) for name, value in got if value != step.expected]
        failures += len(wrong)
        print(step.label, file=out)
        line = f"{indent[step]}{step.expected or '(none)'}"
        print(f"{line:<{column}}  {len(got) - len(wrong)} of {len(got)} ok", file=out)
        for name, value in wrong:
            line = f"{indent[step]}{value or '(none)'}"
            print(f"{line:<{column}}  FAIL from {name}", file=out)
    print(f"\n{len(rows)} requests through {len(names)} stacks: {failures} wrong", file=out)
    return failures


def collect() -> tuple[str, list[Row]]:
    """Send every step through every installed stack: the server's URL, and what it received."""
    with serve() as url:
        return url, _run_sync(url) + asyncio.run(_run_async(url))


def main(out: TextIO) -> int:
    """Run the demo, print what each step's requests received, and return the exit status."""
    url, rows = collect()
    if not rows:
        print("no HTTP stack installed: pip install 'beta-middleware[all]'", file=out)
        return 1
    return 1 if _report(url, rows, out) else 0
