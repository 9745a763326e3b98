"""Run the examples of docs/lifecycle.md."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import anthropic
import pytest
import requests
import responses

from beta_middleware import HEADER, UnknownBetaWarning, _known

from .server import Server

DOC = Path(__file__).resolve().parent.parent / "docs" / "lifecycle.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
REFUSED = ("retired-beta-2024-01-01", "files-api-2025-04-41")  # what the mocked API refuses


def api(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
    sent = str(request.headers.get(HEADER, "")).split(",")
    refused = [name for name in sent if name in REFUSED]
    if refused:
        error = {"type": "invalid_request_error", "message": f"Unsupported beta header: {refused[0]}"}
        return 400, {}, json.dumps({"type": "error", "error": error})
    return 200, {}, "{}"


@pytest.fixture
def mocked_api() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, "https://api.anthropic.com/v1/messages", callback=api)
        yield mock


def run(block: int) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "docs"}
    exec(compile(BLOCKS[block], f"{DOC.name} block {block}", "exec"), namespace)
    return namespace


def test_every_block_is_covered() -> None:
    assert len(BLOCKS) == 6


def test_typo_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_known, "_checked", set())
    expected = re.search(r"# UnknownBetaWarning: (.*)", BLOCKS[0])
    assert expected is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(0)
    assert [(w.category, str(w.message)) for w in caught] == [(UnknownBetaWarning, expected[1])]


def test_silencing_the_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_known, "_checked", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(1)
        from beta_middleware import betas

        betas("files-api-2025-04-43")
    assert caught == []


def test_rejected_betas_examples() -> None:
    run(2)


def test_anthropic_example(server: Server) -> None:
    ask = run(3)["ask"]
    client = anthropic.Anthropic(
        api_key="test",
        base_url=server.url_for("/reject/unsupported"),
        default_query={"betas": "files-api-2025-04-41"},
        max_retries=0,
    )
    with client:
        assert ask(client) == ("files-api-2025-04-41",)
    assert server.betas == ["files-api-2025-04-41"]


def test_raise_for_betas_example(mocked_api: responses.RequestsMock) -> None:
    assert run(4)["refused"] == ("files-api-2025-04-41",)


def test_drop_rejected_example(mocked_api: responses.RequestsMock) -> None:
    run(5)
    sent = [call.request.headers.get(HEADER) for call in mocked_api.calls]
    assert sent == ["retired-beta-2024-01-01,files-api-2025-04-14", "files-api-2025-04-14"]
