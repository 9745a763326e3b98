"""instructor on the SDK 0.x line (its pins need it): a client given the httpx transport, and install()."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import instructor
import pytest
from pydantic import BaseModel

from beta_middleware import betas
from beta_middleware.httpx import AsyncBetaTransport, BetaTransport
from tests.frameworks.conftest import MODEL
from tests.messages_server import MessagesServer

HI = [{"role": "user", "content": "hi"}]
OWN = {"anthropic-beta": "files-api-2025-04-14"}


class Weather(BaseModel):
    city: str


class Way:
    def __init__(self, name: str, api: MessagesServer) -> None:
        self.name, self.api = name, api
        self.installation: Any = None

    def clients(self, drop_rejected: bool = False) -> tuple[Any, Any]:
        sync: dict[str, Any] = {}
        aio: dict[str, Any] = {}
        if self.name == "install":
            from beta_middleware import install

            self.installation = install(drop_rejected=drop_rejected)
        else:
            sync["http_client"] = httpx.Client(transport=BetaTransport(drop_rejected=drop_rejected))
            aio["http_client"] = httpx.AsyncClient(transport=AsyncBetaTransport(drop_rejected=drop_rejected))
        options = {"base_url": self.api.url, "max_retries": 0}
        return (
            instructor.from_anthropic(anthropic.Anthropic(**options, **sync)),
            instructor.from_anthropic(anthropic.AsyncAnthropic(**options, **aio)),
        )


@pytest.fixture(params=["http_client", "install"])
def way(request: pytest.FixtureRequest, api: MessagesServer) -> Iterator[Way]:
    chosen = Way(request.param, api)
    try:
        yield chosen
    finally:
        if chosen.installation is not None:
            chosen.installation.uninstall()


ASK: dict[str, Any] = {"model": MODEL, "max_tokens": 8, "messages": HI, "response_model": Weather}


def test_structured_output(way: Way) -> None:
    client, _ = way.clients()
    with betas("context-1m-2025-08-07"):
        assert client.messages.create(**ASK).city == "context-1m-2025-08-07"
        assert (
            client.messages.create(**ASK, extra_headers=OWN).city
            == "files-api-2025-04-14,context-1m-2025-08-07"
        )
    assert client.messages.create(**ASK).city == "(none)"


def test_partial_streaming(way: Way) -> None:
    client, _ = way.clients()
    with betas("context-1m-2025-08-07"):
        parts = list(client.messages.create_partial(**ASK))
    assert parts[-1].city == "Paris"
    assert way.api.received[-1].body["stream"] is True
    assert way.api.betas == ["context-1m-2025-08-07"]


async def test_async_and_concurrent_tasks(way: Way) -> None:
    _, client = way.clients()

    async def ask(name: str) -> list[str]:
        async with betas(name):
            return [(await client.messages.create(**ASK)).city for _ in range(3)]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert (first, second) == (["a-2025-01-01"] * 3, ["b-2025-01-01"] * 3)


def test_drop_rejected_resends_once(way: Way) -> None:
    client, _ = way.clients(drop_rejected=True)
    way.api.refuse.add("retired-beta-2024-01-01")
    with betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert client.messages.create(**ASK).city == "context-1m-2025-08-07"
    assert way.api.betas == ["retired-beta-2024-01-01,context-1m-2025-08-07", "context-1m-2025-08-07"]
