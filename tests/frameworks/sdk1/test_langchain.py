"""langchain-anthropic's ChatAnthropic builds its own SDK clients: install() (or run) carries the betas."""

from __future__ import annotations

import asyncio

import pytest
from langchain_anthropic import ChatAnthropic

from beta_middleware import betas
from tests.frameworks.conftest import MODEL, NO_HEADER, run_program
from tests.messages_server import MessagesServer

pytestmark = pytest.mark.usefixtures("installed")


def chat(api: MessagesServer, **kwargs: object) -> ChatAnthropic:
    return ChatAnthropic(model=MODEL, base_url=api.url, api_key="sk-ant-test", max_retries=0, **kwargs)


def text(message: object) -> str:
    content = message.content  # type: ignore[attr-defined]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def test_invoke(api: MessagesServer) -> None:
    model = chat(api)
    with betas("context-1m-2025-08-07"):
        assert text(model.invoke("hi")) == "context-1m-2025-08-07"
    assert text(model.invoke("hi")) == NO_HEADER


def test_merged_with_its_own_betas(api: MessagesServer) -> None:
    model = chat(api, betas=["files-api-2025-04-14", "context-1m-2025-08-07"])
    with betas("context-1m-2025-08-07", "b-2"):
        assert text(model.invoke("hi")) == "files-api-2025-04-14,context-1m-2025-08-07,b-2"
    assert text(model.invoke("hi")) == "files-api-2025-04-14,context-1m-2025-08-07"


def test_stream(api: MessagesServer) -> None:
    model = chat(api, betas=["files-api-2025-04-14"])
    with betas("context-1m-2025-08-07"):
        chunks = list(model.stream("hi"))
    assert "".join(text(c) for c in chunks) == "files-api-2025-04-14,context-1m-2025-08-07"
    assert api.received[-1].body["stream"] is True


def test_batch(api: MessagesServer) -> None:
    model = chat(api)
    with betas("context-1m-2025-08-07"):
        results = model.batch(["a", "b", "c"])  # in worker threads: langchain carries the context
    assert [text(r) for r in results] == ["context-1m-2025-08-07"] * 3


async def test_ainvoke_and_astream(api: MessagesServer) -> None:
    model = chat(api)
    async with betas("context-1m-2025-08-07"):
        assert text(await model.ainvoke("hi")) == "context-1m-2025-08-07"
        chunks = [c async for c in model.astream("hi")]
    assert "".join(text(c) for c in chunks) == "context-1m-2025-08-07"


async def test_concurrent_tasks_keep_their_own_scopes(api: MessagesServer) -> None:
    model = chat(api)

    async def ask(name: str) -> list[str]:
        async with betas(name):
            return [text(await model.ainvoke("hi")) for _ in range(3)]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert first == ["a-2025-01-01"] * 3
    assert second == ["b-2025-01-01"] * 3


def test_drop_rejected_resends_once(api: MessagesServer) -> None:
    from beta_middleware import install, uninstall

    uninstall()
    api.refuse.add("retired-beta-2024-01-01")
    model = chat(api)
    with install(drop_rejected=True), betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert text(model.invoke("hi")) == "context-1m-2025-08-07"
    assert api.betas == ["retired-beta-2024-01-01,context-1m-2025-08-07", "context-1m-2025-08-07"]


def test_under_run(api: MessagesServer) -> None:
    done = run_program(
        f"""
        from langchain_anthropic import ChatAnthropic
        model = ChatAnthropic(model={MODEL!r}, base_url={api.url!r}, betas=["files-api-2025-04-14"])
        print(model.invoke("hi").content)
        """,
        "context-1m-2025-08-07",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "files-api-2025-04-14,context-1m-2025-08-07\n"
