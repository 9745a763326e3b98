"""The examples that need a framework run as written (the main suite's test_docs leaves them to this one).

Each environment's `test_docs_page.py` runs the sections of docs/frameworks.md of its
frameworks (`SECTIONS`), and the blocks of the README and the other pages that import one
of its frameworks (`FRAMEWORKS`).
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
ROOT = PAGE.parents[1]
OTHER_PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p != PAGE)]
FRAMEWORKS = {
    "sdk1": {"langchain_anthropic", "pydantic_ai", "litellm"},
    "sdk0": {"instructor", "strands", "llama_index"},
}
"""Each environment's frameworks, by their top-level module."""
IMPORTS = re.compile(r"^\s*(?:from|import)\s+(\w+)", re.MULTILINE)


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


def environment_of(code: str) -> str | None:
    """The environment whose frameworks `code` imports, or None (none, or no environment has them all)."""
    imported = set(IMPORTS.findall(code)) & set().union(*FRAMEWORKS.values())
    return next((env for env, names in FRAMEWORKS.items() if imported and imported <= names), None)


def elsewhere() -> list[tuple[Path, int, str]]:
    """The blocks of the README and the pages other than docs/frameworks.md that import a framework.

    Each as (page, line of its first line of code, code): the lines test_docs numbers them by.
    """
    found = []
    every = set().union(*FRAMEWORKS.values())
    for page in OTHER_PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^```python[^\n]*\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
            if set(IMPORTS.findall(match[1])) & every:
                found.append((page, text.count("\n", 0, match.start()) + 2, match[1]))
    return found


def check_elsewhere(api: MessagesServer, env: str) -> None:
    """Run each block of another page that needs this environment's frameworks, each in a namespace.

    Every request it sends must carry the names of its `betas("...")` scopes.
    """
    from beta_middleware import uninstall

    ran = 0
    for page, line, code in elsewhere():
        if environment_of(code) != env:
            continue
        api.received.clear()
        try:
            exec(compile(code, f"{page.name}, block at line {line}", "exec"), {"__name__": "docs_page"})
        finally:
            uninstall()
        assert api.received, (page.name, line)
        for call in api.received:
            for name in re.findall(r"betas\(\"([^\"]+)\"", code):
                assert name in (call.beta or "").split(","), (page.name, line, call.beta)
        ran += 1
    assert ran or env == "sdk0"
