"""The checks both anthropic SDK lines must pass, run against tests/messages_server.py.

anthropic >= 1.0 runs on httpx2 and 0.x on httpx, and the two cannot share one
environment; `test_sdk_httpx2.py` and `test_sdk_httpx.py` each bind `SDKCases` to
their line with a `line` fixture. Nothing here imports an SDK, so that this module
loads in either environment; what each line provides comes from `Line`.

The middleware's tests (test_anthropic.py, test_anthropic_drop.py) run on whichever
line is installed: `STACK` is that line's HTTP stack (told from the installed
distribution's version, not from the module under test), `INTEGRATION` our module for
it, and `LINE_MARKS` marks them `anthropic0` on the 0.x line, so that `pytest -m
anthropic0` runs them in the 0.x environments and `-m "not anthropic0"` in the main one.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from beta_middleware import betas
from beta_middleware._cli import demo as _demo

from .messages_server import MODEL, NO_HEADER, MessagesServer
from .test_compat import transport_and_mounts

__all__ = [
    "ASK", "CONCURRENT_CALLS", "CONTEXT", "FILES", "FINE_GRAINED", "INTEGRATION", "KINDS", "LINE0",
    "LINE_MARKS", "SDK_VERSION", "STACK", "TOOLS", "WEATHER_TOOL", "Line", "SDKCases", "close",
    "concurrent_calls", "iterate", "read_stream", "resolve",
]  # fmt: skip

SDK_VERSION = importlib.metadata.version("anthropic")
LINE0 = SDK_VERSION.startswith("0.")  # the 0.x line, on httpx
LINE_MARKS = [pytest.mark.anthropic0] if LINE0 else []
if TYPE_CHECKING:  # the types are checked where the main environment's line is installed
    import httpx2 as STACK  # noqa: N812

    from beta_middleware import httpx2 as INTEGRATION  # noqa: N812
else:
    STACK = importlib.import_module("httpx" if LINE0 else "httpx2")
    INTEGRATION = importlib.import_module(f"beta_middleware.{STACK.__name__}")

FILES = "files-api-2025-04-14"
CONTEXT = "context-1m-2025-08-07"
TOOLS = "token-efficient-tools-2025-02-19"
FINE_GRAINED = "fine-grained-tool-streaming-2025-05-14"
CONCURRENT_CALLS = 200
DOCS = Path(__file__).resolve().parent.parent / "docs" / "anthropic-sdk-lines.md"
# Each example in the docs page starts with the line it is for.
DOC_LINES = {"# anthropic >= 1.0": [FILES, f"{CONTEXT},{FILES}"], "# anthropic 0.x": [FILES, FILES]}

ASK: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Hello"}],
}
WEATHER_TOOL = {
    "name": "weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@dataclass(frozen=True)
class Line:
    """One SDK line: the `anthropic` module, its HTTP stack, and our module for that stack."""

    sdk: Any
    stack: Any
    integration: Any

    def client(self, kind: str, url: str, **options: Any) -> Any:
        """An SDK client of `kind` (`sync|async` `-` `transport|instrument`) for `url`."""
        options = {"base_url": url, "api_key": "test-key", "max_retries": 0, **options}
        sdk, stack, integration = self.sdk, self.stack, self.integration
        if kind == "sync-transport":
            return sdk.Anthropic(http_client=stack.Client(transport=integration.BetaTransport()), **options)
        if kind == "sync-instrument":
            return sdk.Anthropic(http_client=integration.instrument(sdk.DefaultHttpxClient()), **options)
        if kind == "async-transport":
            http = stack.AsyncClient(transport=integration.AsyncBetaTransport())
            return sdk.AsyncAnthropic(http_client=http, **options)
        assert kind == "async-instrument", kind
        http = integration.instrument(sdk.DefaultAsyncHttpxClient())
        return sdk.AsyncAnthropic(http_client=http, **options)


KINDS = ["sync-transport", "sync-instrument", "async-transport", "async-instrument"]


async def resolve(value: Any) -> Any:
    """Await `value` when an async client returned an awaitable."""
    return await value if inspect.isawaitable(value) else value


async def close(client: Any) -> None:
    await resolve(client.close())


async def read_stream(make: Callable[[], Any], text: bool) -> Any:
    """Open a `stream(...)` helper, sync or async; its text (`text_stream`) or its events."""
    manager = make()
    if hasattr(manager, "__aenter__"):
        async with manager as stream:
            items = [item async for item in (stream.text_stream if text else stream)]
    else:
        with manager as stream:
            items = list(stream.text_stream if text else stream)
    return "".join(items) if text else items


async def iterate(stream: Any) -> list[Any]:
    """Every item of a raw `create(stream=True)` stream, sync or async."""
    if hasattr(stream, "__aiter__"):
        return [event async for event in stream]
    return list(stream)


async def concurrent_calls(line: Line, how: str, server: MessagesServer) -> dict[str, list[str]]:
    """`CONCURRENT_CALLS` calls at once on one async client, each in its own scope.

    Returns what went wrong, per kind: names answered to the wrong call, and names the
    server saw other than once.
    """
    client = line.client(f"async-{how}", server.url)
    shared = betas(FILES)  # one scope object entered by every task at once

    async def call(i: int) -> tuple[str, str]:
        own = f"task-{i:03d}-2025-01-01"
        async with shared, betas(own):
            await asyncio.sleep(0)  # let the other tasks enter their scopes first
            answer = await client.messages.create(**ASK)
        return f"{FILES},{own}", answer.content[0].text

    try:
        results = await asyncio.gather(*(call(i) for i in range(CONCURRENT_CALLS)))
    finally:
        await client.close()
    expected = sorted(want for want, _ in results)
    return {
        "cross_talk": [f"{want} != {got}" for want, got in results if want != got],
        "server_mismatch": sorted(set(expected) ^ {call.beta or "" for call in server.received}),
        "count": [] if len(server.received) == CONCURRENT_CALLS else [str(len(server.received))],
    }


class SDKCases:
    """Bound to an SDK line by a subclass that provides the `line` fixture."""

    @pytest.fixture(params=KINDS)
    def kind(self, request: pytest.FixtureRequest) -> str:
        value: str = request.param
        return value

    async def test_context_betas_reach_the_api(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url)
        try:
            plain = await resolve(client.messages.create(**ASK))
            with betas(FILES):
                inside = await resolve(client.messages.create(**ASK))
                with betas(CONTEXT, FILES):
                    nested = await resolve(client.messages.create(**ASK))
                with betas(replace=True):
                    off = await resolve(client.messages.create(**ASK))
        finally:
            await close(client)
        assert messages_api.betas == [None, FILES, f"{FILES},{CONTEXT}", None]
        # The SDK parsed the answers, which echo the header the server received.
        assert [m.content[0].text for m in (plain, inside, nested, off)] == [
            NO_HEADER,
            FILES,
            f"{FILES},{CONTEXT}",
            NO_HEADER,
        ]

    async def test_merges_with_the_sdk_betas_argument(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url)
        try:
            with betas(FILES, CONTEXT):
                await resolve(client.beta.messages.create(**ASK, betas=[TOOLS, FILES]))
            # The SDK's own betas alone pass untouched.
            await resolve(client.beta.messages.create(**ASK, betas=[TOOLS]))
        finally:
            await close(client)
        assert messages_api.betas == [f"{TOOLS},{FILES},{CONTEXT}", TOOLS]

    async def test_merges_with_extra_and_default_headers(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url, default_headers={"anthropic-beta": CONTEXT})
        try:
            with betas(FILES):
                await resolve(client.messages.create(**ASK))
                await resolve(
                    client.messages.create(**ASK, extra_headers={"anthropic-beta": f"{TOOLS}, {FILES}"})
                )
        finally:
            await close(client)
        assert messages_api.betas == [f"{CONTEXT},{FILES}", f"{TOOLS},{FILES}"]

    async def test_the_sent_header_is_on_the_response_request(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url)
        try:
            with betas(FILES):
                raw = await resolve(client.beta.messages.with_raw_response.create(**ASK, betas=[TOOLS]))
        finally:
            await close(client)
        assert raw.http_request.headers["anthropic-beta"] == f"{TOOLS},{FILES}"
        assert raw.http_request.headers["anthropic-beta"] == messages_api.betas[0]

    async def test_streaming_through_the_transport(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url)
        try:
            with betas(FILES):
                raw_events = await iterate(await resolve(client.messages.create(**ASK, stream=True)))
                text = await read_stream(lambda: client.messages.stream(**ASK), text=True)
                with betas(CONTEXT):
                    beta_stream = lambda: client.beta.messages.stream(**ASK, betas=[TOOLS])  # noqa: E731
                    beta_text = await read_stream(beta_stream, text=True)
        finally:
            await close(client)
        assert [event.type for event in raw_events] == [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        streamed = "".join(e.delta.text for e in raw_events if e.type == "content_block_delta")
        assert streamed == FILES
        assert text == FILES
        assert beta_text == f"{TOOLS},{FILES},{CONTEXT}"
        assert messages_api.betas == [FILES, FILES, f"{TOOLS},{FILES},{CONTEXT}"]

    @pytest.mark.parametrize(("scope", "first_snapshot"), [((FINE_GRAINED,), {"city": "Par"}), ((), {})])
    async def test_the_sdk_stream_helper_sees_context_betas(
        self,
        line: Line,
        kind: str,
        messages_api: MessagesServer,
        scope: tuple[str, ...],
        first_snapshot: dict[str, str],
    ) -> None:
        # The beta stream helper reads anthropic-beta from the request it sent to decide how
        # to parse partial tool input; a context beta must be visible to it.
        client = line.client(kind, messages_api.url)
        try:
            with betas(*scope):
                events = await read_stream(
                    lambda: client.beta.messages.stream(**ASK, tools=[WEATHER_TOOL]), text=False
                )
        finally:
            await close(client)
        snapshots = [event.snapshot for event in events if event.type == "input_json"]
        assert snapshots == [first_snapshot, {"city": "Paris"}]
        assert messages_api.betas == [FINE_GRAINED if scope else None]

    async def test_retries_carry_the_header_on_every_attempt(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url, max_retries=3)
        try:
            with betas(FILES):
                answer = await resolve(
                    client.beta.messages.create(
                        **ASK, betas=[TOOLS], extra_headers={"x-test-fail": "2", "x-test-key": kind}
                    )
                )
        finally:
            await close(client)
        assert [call.retry_count for call in messages_api.received] == ["0", "1", "2"]
        assert messages_api.betas == [f"{TOOLS},{FILES}"] * 3
        assert answer.content[0].text == f"{TOOLS},{FILES}"

    def test_instrument_keeps_the_default_client_set_up(
        self, line: Line, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "localhost")
        client = line.sdk.DefaultHttpxClient()
        transport, mounts = transport_and_mounts(client)
        assert mounts, "DefaultHttpxClient mounts the environment's proxies"
        assert line.integration.instrument(client) is client
        # The transports the SDK built (keep-alive socket options, proxy mounts) still
        # send, each now behind a wrapper.
        wrapped, wrapped_mounts = transport_and_mounts(client)
        assert isinstance(wrapped, line.integration.BetaTransport)
        assert wrapped.transport is transport
        assert {p: t and t.transport for p, t in wrapped_mounts.items()} == mounts
        client.close()

    async def test_error_responses_reach_the_sdk(
        self, line: Line, kind: str, messages_api: MessagesServer
    ) -> None:
        client = line.client(kind, messages_api.url)
        try:
            with betas(FILES), pytest.raises(line.sdk.BadRequestError) as caught:
                await resolve(client.messages.create(**ASK, extra_headers={"x-test-status": "400"}))
        finally:
            await close(client)
        assert caught.value.status_code == 400
        error = {"type": "invalid_request_error", "message": "test invalid_request_error"}
        assert caught.value.body == {"type": "error", "error": error}
        assert caught.value.response.headers["x-test-origin"] == "messages-server"
        assert messages_api.betas == [FILES]

    @pytest.mark.parametrize("how", ["transport", "instrument"])
    async def test_concurrent_calls_get_their_own_betas(
        self, line: Line, how: str, messages_api: MessagesServer
    ) -> None:
        problems = await concurrent_calls(line, how, messages_api)
        assert problems == {"cross_talk": [], "server_mismatch": [], "count": []}

    def test_the_demo_sends_through_the_sdk(self, line: Line) -> None:
        out = io.StringIO()
        assert _demo.main(out) == 0
        rows = [row for row in _demo.collect()[1] if row[0].startswith("sdk transport")]
        # Every step, sync and async, went through the SDK client and came back right.
        assert len(rows) == 2 * len(_demo.STEPS)
        assert all(got == step.expected for _, step, got in rows)

    def test_the_docs_examples_run(
        self, line: Line, messages_api: MessagesServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
        assert {block.partition("\n")[0] for block in blocks} == set(DOC_LINES)  # every one is run
        marker = "# anthropic 0.x" if line.sdk.__version__.startswith("0.") else "# anthropic >= 1.0"
        monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.url)  # the SDK's own setting
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        for block in blocks:
            if block.startswith(marker):
                with warnings.catch_warnings():
                    # A model's retirement date is the SDK's news, not what the examples show.
                    warnings.filterwarnings("ignore", "The model .* is deprecated", DeprecationWarning)
                    exec(compile(block, str(DOCS), "exec"), {"__name__": "docs_example"})
        assert messages_api.betas == DOC_LINES[marker]
