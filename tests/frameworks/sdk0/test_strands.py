"""strands-agents' AnthropicModel (an AsyncAnthropic client of its own, SDK 0.x line here):
its `client_args` option with an httpx client given the transport or instrumented, and install().

strands streams every message (`messages.stream`); `count_tokens` is its one request that is
not streamed. The client's `default_headers` beta is strands' (and the caller's) own value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from pydantic import BaseModel
from strands import Agent
from strands.models.anthropic import AnthropicModel

from beta_middleware import betas
from beta_middleware.httpx import AsyncBetaTransport, instrument
from tests.frameworks.conftest import MODEL, NO_HEADER, run_program
from tests.messages_server import MessagesServer

OWN = "files-api-2025-04-14"


class Weather(BaseModel):
    city: str


class Way:
    """How the betas get on strands' requests: `client_args={"http_client": ...}`, or install()."""

    def __init__(self, name: str, api: MessagesServer) -> None:
        self.name, self.api = name, api
        self.installation: Any = None
        self.drop_rejected = False

    def setup(self, drop_rejected: bool = False) -> None:
        self.drop_rejected = drop_rejected
        if self.name == "install":
            from beta_middleware import install

            self.installation = install(drop_rejected=drop_rejected)

    def model(self, own: str | None = None, **config: Any) -> AnthropicModel:
        # One http_client per model: strands' sync call runs each call on an event loop of its
        # own, and an AsyncClient's pooled connection cannot outlive the loop that opened it.
        client_args: dict[str, Any] = {"base_url": self.api.url, "api_key": "sk-ant-test", "max_retries": 0}
        if own is not None:
            client_args["default_headers"] = {"anthropic-beta": own}
        if self.name == "transport":
            transport = AsyncBetaTransport(drop_rejected=self.drop_rejected)
            client_args["http_client"] = httpx.AsyncClient(transport=transport)
        elif self.name == "instrument":
            built = anthropic.DefaultAsyncHttpxClient()
            client_args["http_client"] = instrument(built, drop_rejected=self.drop_rejected)
        return AnthropicModel(client_args=client_args, model_id=MODEL, max_tokens=8, **config)

    def agent(self, own: str | None = None, **config: Any) -> Agent:
        return Agent(model=self.model(own, **config), callback_handler=None)


@pytest.fixture(params=["transport", "instrument", "install"])
def way(request: pytest.FixtureRequest, api: MessagesServer) -> Iterator[Way]:
    chosen = Way(request.param, api)
    try:
        yield chosen
    finally:
        if chosen.installation is not None:
            chosen.installation.uninstall()


def reply(result: object) -> str:
    return str(result).strip()


def test_sync_call_merged_with_its_own_betas(way: Way, api: MessagesServer) -> None:
    way.setup()
    with betas("context-1m-2025-08-07"):
        assert reply(way.agent()("hi")) == "context-1m-2025-08-07"
    with betas("context-1m-2025-08-07", "b-2025-01-01"):
        merged = way.agent(own=f"{OWN},context-1m-2025-08-07")("hi")
    assert reply(merged) == f"{OWN},context-1m-2025-08-07,b-2025-01-01"
    assert reply(way.agent(own=OWN)("hi")) == OWN
    assert reply(way.agent()("hi")) == NO_HEADER
    assert all(call.body["stream"] is True for call in api.received)


def test_per_request_extra_headers_are_its_own_value(way: Way) -> None:
    way.setup()
    agent = way.agent(params={"extra_headers": {"anthropic-beta": OWN}})
    with betas("context-1m-2025-08-07"):
        assert reply(agent("hi")) == f"{OWN},context-1m-2025-08-07"


async def test_invoke_async_and_stream_async(way: Way, api: MessagesServer) -> None:
    way.setup()
    agent = way.agent(own=OWN)
    async with betas("context-1m-2025-08-07"):
        assert reply(await agent.invoke_async("hi")) == f"{OWN},context-1m-2025-08-07"
        events = [event async for event in agent.stream_async("hi")]
    assert reply(events[-1]["result"]) == f"{OWN},context-1m-2025-08-07"
    assert api.betas == [f"{OWN},context-1m-2025-08-07"] * 2


def test_structured_output(way: Way, api: MessagesServer) -> None:
    way.setup()
    with betas("context-1m-2025-08-07"):
        result = way.agent(own=OWN)("hi", structured_output_model=Weather)
    assert result.structured_output == Weather(city="Paris")  # the streamed tool input
    assert api.received[-1].body["tools"][0]["name"] == "Weather"
    assert api.betas == [f"{OWN},context-1m-2025-08-07"] * len(api.received)


async def test_count_tokens_not_streamed(way: Way, api: MessagesServer) -> None:
    way.setup()
    model = way.model(own=OWN, use_native_token_count=True)
    hi: Any = [{"role": "user", "content": [{"text": "hi"}]}]
    async with betas("context-1m-2025-08-07"):
        assert await model.count_tokens(hi) == 3  # the server's count: strands did not fall back
    assert [call.path.split("?")[0] for call in api.received] == ["/v1/messages/count_tokens"]
    assert api.betas == [f"{OWN},context-1m-2025-08-07"]


async def test_concurrent_tasks_keep_their_own_scopes(way: Way) -> None:
    way.setup()
    model = way.model()  # one client for both tasks

    async def ask(name: str) -> list[str]:
        agent = Agent(model=model, callback_handler=None)
        async with betas(name):
            return [reply(await agent.invoke_async("hi")) for _ in range(3)]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert (first, second) == (["a-2025-01-01"] * 3, ["b-2025-01-01"] * 3)


async def test_a_stream_iterated_after_its_scope_has_none_of_its_names(way: Way, api: MessagesServer) -> None:
    way.setup()
    agent = way.agent()
    async with betas("context-1m-2025-08-07"):
        events = agent.stream_async("hi")  # lazy: nothing is sent until it is iterated
    assert reply([event async for event in events][-1]["result"]) == NO_HEADER
    assert api.betas == [None]


def test_drop_rejected_resends_once(way: Way, api: MessagesServer) -> None:
    way.setup(drop_rejected=True)
    api.refuse.add("retired-beta-2024-01-01")
    with betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert reply(way.agent(own=OWN)("hi")) == f"{OWN},context-1m-2025-08-07"
    sent = f"{OWN},retired-beta-2024-01-01,context-1m-2025-08-07"
    assert api.betas == [sent, f"{OWN},context-1m-2025-08-07"]


def test_under_run(api: MessagesServer) -> None:
    done = run_program(
        f"""
        from strands import Agent
        from strands.models.anthropic import AnthropicModel
        model = AnthropicModel(
            client_args={{"default_headers": {{"anthropic-beta": {OWN!r}}}}}, model_id={MODEL!r}, max_tokens=8
        )
        print(Agent(model=model, callback_handler=None)("hi"))
        """,
        "context-1m-2025-08-07",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == f"{OWN},context-1m-2025-08-07"
