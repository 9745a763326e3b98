"""llama-index-llms-anthropic's Anthropic LLM builds its own SDK clients and takes no
http_client: install() (or run) carries the betas. Its releases fail on anthropic 2.x in
their own code, so it runs here, on the 0.x line (on httpx). `default_headers` and a call's
`extra_headers` are its (and the caller's) own value.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.anthropic import Anthropic

from beta_middleware import betas
from tests.frameworks.conftest import NO_HEADER, run_program
from tests.messages_server import MessagesServer

# api first: on this SDK line install() reaches the clients through httpx, for its hosts,
# and the default hosts take ANTHROPIC_BASE_URL's host as it is at install() time.
pytestmark = pytest.mark.usefixtures("api", "installed")

OWN = "files-api-2025-04-14"
MODEL = "claude-sonnet-4-5"  # llama-index looks its context window up by name
HI = [ChatMessage(role="user", content="hi")]


def llm(api: MessagesServer, own: str | None = None) -> Anthropic:
    headers = {"anthropic-beta": own} if own is not None else None
    options: dict[str, Any] = {"base_url": api.url, "api_key": "sk-ant-test", "max_retries": 0}
    return Anthropic(model=MODEL, max_tokens=8, default_headers=headers, **options)


def test_complete_merged_with_its_own_betas(api: MessagesServer) -> None:
    with betas("context-1m-2025-08-07"):
        assert llm(api).complete("hi").text == "context-1m-2025-08-07"
    with betas("context-1m-2025-08-07", "b-2025-01-01"):
        merged = llm(api, own=f"{OWN},context-1m-2025-08-07").complete("hi").text
        per_call = llm(api).complete("hi", extra_headers={"anthropic-beta": OWN}).text
    assert merged == f"{OWN},context-1m-2025-08-07,b-2025-01-01"
    assert per_call == f"{OWN},context-1m-2025-08-07,b-2025-01-01"
    assert llm(api, own=OWN).complete("hi").text == OWN
    assert llm(api).complete("hi").text == NO_HEADER


def test_chat_and_streams(api: MessagesServer) -> None:
    model = llm(api, own=OWN)
    with betas("context-1m-2025-08-07"):
        assert model.chat(HI).message.content == f"{OWN},context-1m-2025-08-07"
        completed = "".join(chunk.delta or "" for chunk in model.stream_complete("hi"))
        chatted = "".join(chunk.delta or "" for chunk in model.stream_chat(HI))
    assert completed == chatted == f"{OWN},context-1m-2025-08-07"
    assert [call.body.get("stream") for call in api.received] == [False, True, True]


def test_a_stream_sends_when_called(api: MessagesServer) -> None:
    with betas("context-1m-2025-08-07"):
        chunks = llm(api).stream_complete("hi")  # the request is sent here, the generator reads it
    assert "".join(chunk.delta or "" for chunk in chunks) == "context-1m-2025-08-07"


async def test_async(api: MessagesServer) -> None:
    model = llm(api, own=OWN)
    async with betas("context-1m-2025-08-07"):
        assert (await model.acomplete("hi")).text == f"{OWN},context-1m-2025-08-07"
        assert (await model.achat(HI)).message.content == f"{OWN},context-1m-2025-08-07"
        chunks = [chunk.delta or "" async for chunk in await model.astream_complete("hi")]
    assert "".join(chunks) == f"{OWN},context-1m-2025-08-07"
    assert api.betas == [f"{OWN},context-1m-2025-08-07"] * 3


def test_token_count_not_streamed(api: MessagesServer) -> None:
    with betas("context-1m-2025-08-07"):
        assert len(llm(api).tokenizer.encode("hi")) == 3  # the SDK's beta count_tokens
    assert [call.path.split("?")[0] for call in api.received] == ["/v1/messages/count_tokens"]
    assert api.betas == ["token-counting-2024-11-01,context-1m-2025-08-07"]  # the SDK's own beta first


async def test_concurrent_tasks_keep_their_own_scopes(api: MessagesServer) -> None:
    model = llm(api)  # one client for both tasks

    async def ask(name: str) -> list[str]:
        async with betas(name):
            return [(await model.acomplete("hi")).text for _ in range(3)]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert (first, second) == (["a-2025-01-01"] * 3, ["b-2025-01-01"] * 3)


def test_drop_rejected_resends_once(api: MessagesServer) -> None:
    from beta_middleware import install, uninstall

    uninstall()  # the module's plain installation
    api.refuse.add("retired-beta-2024-01-01")
    model = llm(api, own=OWN)
    with install(drop_rejected=True), betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert model.complete("hi").text == f"{OWN},context-1m-2025-08-07"
    sent = f"{OWN},retired-beta-2024-01-01,context-1m-2025-08-07"
    assert api.betas == [sent, f"{OWN},context-1m-2025-08-07"]


def test_under_run(api: MessagesServer) -> None:
    done = run_program(
        f"""
        from llama_index.llms.anthropic import Anthropic
        llm = Anthropic(model={MODEL!r}, max_tokens=8, default_headers={{"anthropic-beta": {OWN!r}}})
        print(llm.complete("hi").text)
        """,
        "context-1m-2025-08-07",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"{OWN},context-1m-2025-08-07\n"
