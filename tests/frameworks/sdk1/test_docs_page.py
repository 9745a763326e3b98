"""docs/frameworks.md's examples run as written (the main suite's test_docs leaves that page to this one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.messages_server import MessagesServer

PAGE = Path(__file__).resolve().parents[3] / "docs" / "frameworks.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def sections() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in re.split(r"^## ", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        title, _, body = part.partition("\n")
        if blocks := FENCE.findall(body):
            found[title.strip()] = blocks
    return found


def test_the_page_has_its_recipes() -> None:
    assert set(sections()) == {"LangChain", "pydantic-ai", "LiteLLM", "The SDK's aiohttp client"}


@pytest.mark.parametrize(("title", "blocks"), list(sections().items()), ids=list(sections()))
def test_recipe_runs_and_sends_the_betas(api: MessagesServer, title: str, blocks: list[str]) -> None:
    from beta_middleware import uninstall

    namespace: dict[str, object] = {"__name__": "docs_frameworks"}
    try:
        for block in blocks:
            exec(compile(block, f"docs/frameworks.md, {title}", "exec"), namespace)
    finally:
        uninstall()
    assert api.received, title
    for call in api.received:
        assert "context-1m-2025-08-07" in (call.beta or "").split(","), (title, call.beta)
