"""The SDK's aiohttp client (`anthropic[aiohttp]`): BetaMiddleware, instrument() on it, install()."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import anthropic
import pytest

from beta_middleware import betas
from beta_middleware.anthropic import BetaMiddleware
from beta_middleware.httpx2 import instrument
from tests.frameworks.conftest import MODEL, NO_HEADER
from tests.messages_server import MessagesServer

HI = [{"role": "user", "content": "hi"}]
Build = Callable[..., anthropic.AsyncAnthropic]


@pytest.fixture(params=["middleware", "instrument", "install"])
async def client(request: pytest.FixtureRequest, api: MessagesServer) -> AsyncIterator[Build]:
    async with AsyncExitStack() as stack:

        def build(drop_rejected: bool = False) -> anthropic.AsyncAnthropic:
            http = anthropic.DefaultAioHttpClient()
            options: dict[str, object] = {}
            if request.param == "middleware":
                options["middleware"] = [BetaMiddleware(drop_rejected=drop_rejected)]
            elif request.param == "instrument":  # its aiohttp transport, wrapped in place
                http = instrument(http, drop_rejected=drop_rejected)
            else:
                from beta_middleware import install

                stack.enter_context(install(drop_rejected=drop_rejected))
            sdk = anthropic.AsyncAnthropic(base_url=api.url, max_retries=0, http_client=http, **options)  # type: ignore[arg-type]
            stack.push_async_callback(sdk.close)
            return sdk

        yield build


async def text(sdk: anthropic.AsyncAnthropic, **kwargs: object) -> str:
    message = await sdk.beta.messages.create(model=MODEL, max_tokens=8, messages=HI, **kwargs)  # type: ignore[arg-type]
    return "".join(getattr(block, "text", "") for block in message.content)


async def test_create_and_stream(api: MessagesServer, client: Build) -> None:
    sdk = client()
    async with betas("context-1m-2025-08-07"):
        assert await text(sdk) == "context-1m-2025-08-07"
        assert await text(sdk, betas=["files-api-2025-04-14"]) == "files-api-2025-04-14,context-1m-2025-08-07"
        async with sdk.beta.messages.stream(model=MODEL, max_tokens=8, messages=HI) as stream:  # type: ignore[arg-type]
            streamed = "".join([chunk async for chunk in stream.text_stream])
        counted = await sdk.beta.messages.count_tokens(model=MODEL, messages=HI)  # type: ignore[arg-type]
    assert streamed == "context-1m-2025-08-07"
    assert counted.input_tokens == 3
    assert api.received[-1].beta == "token-counting-2024-11-01,context-1m-2025-08-07"  # the SDK's own first
    assert await text(sdk) == NO_HEADER


async def test_concurrent_tasks_keep_their_own_scopes(client: Build) -> None:
    sdk = client()

    async def ask(name: str) -> list[str]:
        async with betas(name):
            return [await text(sdk) for _ in range(3)]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert (first, second) == (["a-2025-01-01"] * 3, ["b-2025-01-01"] * 3)


async def test_drop_rejected_resends_once(api: MessagesServer, client: Build) -> None:
    api.refuse.add("retired-beta-2024-01-01")
    sdk = client(drop_rejected=True)
    async with betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert await text(sdk) == "context-1m-2025-08-07"
    assert api.betas == ["retired-beta-2024-01-01,context-1m-2025-08-07", "context-1m-2025-08-07"]
