"""LiteLLM: its own httpx clients (no anthropic SDK). Its `client=` option with the httpx
integration, and install(); `extra_headers={"anthropic-beta": ...}` is the caller's own value."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import litellm
import pytest
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler

from beta_middleware import betas
from beta_middleware.httpx import AsyncBetaTransport, BetaTransport
from tests.frameworks.conftest import MODEL, NO_HEADER, run_program
from tests.messages_server import MessagesServer

HI = [{"role": "user", "content": "hi"}]
OWN = {"anthropic-beta": "files-api-2025-04-14"}


class Way:
    """How the betas get on LiteLLM's requests: the `client=` option, or install()."""

    def __init__(self, name: str, api: MessagesServer) -> None:
        self.name, self.api = name, api
        self.installation: Any = None

    def setup(self, drop_rejected: bool = False, threads: bool = False) -> None:
        if self.name == "install":
            from beta_middleware import install

            self.installation = install(drop_rejected=drop_rejected, threads=threads)
        else:
            self.sync = HTTPHandler(client=httpx.Client(transport=BetaTransport(drop_rejected=drop_rejected)))
            self.aio = AsyncHTTPHandler(transport=AsyncBetaTransport(drop_rejected=drop_rejected))

    def kwargs(self, asynchronous: bool = False) -> dict[str, Any]:
        options: dict[str, Any] = {"model": f"anthropic/{MODEL}", "api_base": self.api.url, "api_key": "k"}
        if self.name == "client":
            options["client"] = self.aio if asynchronous else self.sync
        return options

    def close(self) -> None:
        if self.installation is not None:
            self.installation.uninstall()


@pytest.fixture(params=["client", "install"])
def way(request: pytest.FixtureRequest, api: MessagesServer) -> Iterator[Way]:
    chosen = Way(request.param, api)
    try:
        yield chosen
    finally:
        chosen.close()


def content(response: Any) -> str:
    return str(response.choices[0].message.content)


def test_completion(way: Way) -> None:
    way.setup()
    with betas("context-1m-2025-08-07"):
        assert content(litellm.completion(messages=HI, **way.kwargs())) == "context-1m-2025-08-07"
        merged = litellm.completion(messages=HI, extra_headers=OWN, **way.kwargs())
    assert content(merged) == "files-api-2025-04-14,context-1m-2025-08-07"
    assert content(litellm.completion(messages=HI, **way.kwargs())) == NO_HEADER


def test_completion_streamed(way: Way) -> None:
    way.setup()
    with betas("context-1m-2025-08-07"):
        chunks = list(litellm.completion(messages=HI, stream=True, extra_headers=OWN, **way.kwargs()))
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks)
        == "files-api-2025-04-14,context-1m-2025-08-07"
    )
    assert way.api.received[-1].body["stream"] is True


async def test_acompletion_streamed_and_not(way: Way) -> None:
    way.setup()
    async with betas("context-1m-2025-08-07"):
        response = await litellm.acompletion(messages=HI, extra_headers=OWN, **way.kwargs(asynchronous=True))
        stream = await litellm.acompletion(messages=HI, stream=True, **way.kwargs(asynchronous=True))
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert content(response) == "files-api-2025-04-14,context-1m-2025-08-07"
    assert streamed == "context-1m-2025-08-07"


async def test_concurrent_tasks_keep_their_own_scopes(way: Way) -> None:
    way.setup()

    async def ask(name: str) -> list[str]:
        async with betas(name):
            return [
                content(await litellm.acompletion(messages=HI, **way.kwargs(asynchronous=True)))
                for _ in range(3)
            ]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert (first, second) == (["a-2025-01-01"] * 3, ["b-2025-01-01"] * 3)


def test_batch_completion_carries_the_scope_with_threads(api: MessagesServer) -> None:
    # batch_completion sends from a thread pool: a scope reaches it with install(threads=True)
    way = Way("install", api)
    way.setup(threads=True)
    try:
        with betas("context-1m-2025-08-07"):
            results = litellm.batch_completion(messages=[HI, HI, HI], **way.kwargs())
    finally:
        way.close()
    assert [content(r) for r in results] == ["context-1m-2025-08-07"] * 3


def test_drop_rejected_resends_once(way: Way) -> None:
    way.setup(drop_rejected=True)
    way.api.refuse.add("retired-beta-2024-01-01")
    with betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert content(litellm.completion(messages=HI, **way.kwargs())) == "context-1m-2025-08-07"
    assert way.api.betas == ["retired-beta-2024-01-01,context-1m-2025-08-07", "context-1m-2025-08-07"]


def test_under_run(api: MessagesServer) -> None:
    done = run_program(
        f"""
        import litellm
        r = litellm.completion(model="anthropic/{MODEL}", api_base={api.url!r}, api_key="k",
                               messages=[{{"role": "user", "content": "hi"}}])
        print(r.choices[0].message.content)
        """,
        "context-1m-2025-08-07",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "context-1m-2025-08-07\n"
