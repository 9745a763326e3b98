"""pydantic-ai: its own client option (`anthropic_client=` with BetaMiddleware) and install()."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import anthropic
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel, AnthropicModelSettings
from pydantic_ai.providers.anthropic import AnthropicProvider

from beta_middleware import betas
from beta_middleware.anthropic import BetaMiddleware
from tests.frameworks.conftest import MODEL, NO_HEADER, run_program
from tests.messages_server import MessagesServer

Build = Callable[..., Agent[None, str]]


@pytest.fixture(params=["anthropic_client", "install"])
def agent(request: pytest.FixtureRequest, api: MessagesServer) -> Iterator[Build]:
    """An Agent factory, one way or the other; `drop_rejected` for that way's option."""
    if request.param == "anthropic_client":

        def build(drop_rejected: bool = False, **settings: object) -> Agent[None, str]:
            client = anthropic.AsyncAnthropic(
                base_url=api.url, max_retries=0, middleware=[BetaMiddleware(drop_rejected=drop_rejected)]
            )
            model = AnthropicModel(MODEL, provider=AnthropicProvider(anthropic_client=client))
            return Agent(model, model_settings=AnthropicModelSettings(**settings))  # type: ignore[typeddict-item]

        yield build
        return
    from beta_middleware import install

    current: list[object] = []

    def build_installed(drop_rejected: bool = False, **settings: object) -> Agent[None, str]:
        if not current:
            current.append(install(drop_rejected=drop_rejected))
        return Agent(f"anthropic:{MODEL}", model_settings=AnthropicModelSettings(**settings))  # type: ignore[typeddict-item]

    try:
        yield build_installed
    finally:
        for installation in current:
            installation.uninstall()  # type: ignore[attr-defined]


def test_run_sync(api: MessagesServer, agent: Build) -> None:
    bot = agent()
    with betas("context-1m-2025-08-07"):
        assert bot.run_sync("hi").output == "context-1m-2025-08-07"
    assert bot.run_sync("hi").output == NO_HEADER


def test_merged_with_its_own_betas(api: MessagesServer, agent: Build) -> None:
    bot = agent(anthropic_betas=["files-api-2025-04-14", "context-1m-2025-08-07"])
    with betas("context-1m-2025-08-07", "b-2"):
        assert (
            bot.run_sync("hi").output == "context-1m-2025-08-07,files-api-2025-04-14,b-2"
        )  # its own, sorted


async def test_run_and_run_stream(api: MessagesServer, agent: Build) -> None:
    bot = agent()
    async with betas("context-1m-2025-08-07"):
        assert (await bot.run("hi")).output == "context-1m-2025-08-07"
        async with bot.run_stream("hi") as result:
            streamed = await result.get_output()
    assert streamed == "context-1m-2025-08-07"
    assert api.received[-1].body["stream"] is True


async def test_concurrent_tasks_keep_their_own_scopes(api: MessagesServer, agent: Build) -> None:
    bot = agent()

    async def ask(name: str) -> list[str]:
        async with betas(name):
            return [(await bot.run("hi")).output for _ in range(3)]

    first, second = await asyncio.gather(ask("a-2025-01-01"), ask("b-2025-01-01"))
    assert (first, second) == (["a-2025-01-01"] * 3, ["b-2025-01-01"] * 3)


def test_drop_rejected_resends_once(api: MessagesServer, agent: Build) -> None:
    api.refuse.add("retired-beta-2024-01-01")
    bot = agent(drop_rejected=True)
    with betas("retired-beta-2024-01-01", "context-1m-2025-08-07"):
        assert bot.run_sync("hi").output == "context-1m-2025-08-07"
    assert api.betas == ["retired-beta-2024-01-01,context-1m-2025-08-07", "context-1m-2025-08-07"]


def test_under_run(api: MessagesServer) -> None:
    done = run_program(
        f"""
        from pydantic_ai import Agent
        print(Agent("anthropic:{MODEL}").run_sync("hi").output)
        """,
        "context-1m-2025-08-07",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "context-1m-2025-08-07\n"
