"""docs/frameworks.md's examples run as written (the main suite's test_docs leaves that page to this one).

Each environment's `test_docs_page.py` runs the sections of its frameworks (`SECTIONS`).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.messages_server import MessagesServer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "frameworks.md"
SECTIONS = {
    "sdk1": {"LangChain", "pydantic-ai", "LiteLLM", "The SDK's aiohttp client"},
    "sdk0": {"instructor", "strands-agents", "llama-index"},
}
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def sections() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in re.split(r"^## ", PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        title, _, body = part.partition("\n")
        if blocks := FENCE.findall(body):
            found[title.strip()] = blocks
    return found


def check_every_recipe_is_run() -> None:
    assert set(sections()) == set().union(*SECTIONS.values())


def check_recipe(api: MessagesServer, title: str) -> None:
    """Run the section's blocks in one namespace; every request must carry the scope's name."""
    from beta_middleware import uninstall

    blocks = sections()[title]
    namespace: dict[str, object] = {"__name__": "docs_frameworks"}
    try:
        for block in blocks:
            exec(compile(block, f"docs/frameworks.md, {title}", "exec"), namespace)
    finally:
        uninstall()
    assert api.received, title
    for call in api.received:
        assert "context-1m-2025-08-07" in (call.beta or "").split(","), (title, call.beta)
