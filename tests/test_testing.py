"""beta_middleware.testing on real objects of every supported stack, and docs/testing.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import httpx2
import pytest
import requests
import responses

from beta_middleware import InvalidBetaError, betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware.requests import BetaAdapter
from beta_middleware.testing import assert_betas, matcher, sent_betas

from .server import Server

URL = "https://api.anthropic.com/v1/messages"
DOCS = Path(__file__).parent.parent / "docs" / "testing.md"


def beta_session(**kwargs: Any) -> requests.Session:
    session = requests.Session()
    session.mount("http://", BetaAdapter(**kwargs))
    session.mount("https://", BetaAdapter(**kwargs))
    return session


# requests


def test_requests_through_responses_every_object() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, URL, json={})
        session = beta_session(betas="fixed-1")
        session.headers["anthropic-beta"] = "own-1, ,own-2"
        with betas("ctx-1"):
            response = session.post(URL)
        call = mock.calls[0]
    assert sent_betas(response) == ("own-1", "own-2", "fixed-1", "ctx-1")
    assert sent_betas(response.request) == ("own-1", "own-2", "fixed-1", "ctx-1")
    assert sent_betas(call) == ("own-1", "own-2", "fixed-1", "ctx-1")
    assert sent_betas(call.request) == ("own-1", "own-2", "fixed-1", "ctx-1")
    assert_betas(call, "ctx-1", "own-1")
    assert_betas(response, "own-1", "own-2", "fixed-1", "ctx-1", exact=True)


def test_requests_against_the_loopback_server(server: Server) -> None:
    session = beta_session(hosts="127.0.0.1")
    with betas("ctx-1", "ctx-2"):
        response = session.get(server.url_for("/echo"))
        # a redirect to a host outside `hosts`: each response shows its own hop
        target = server.url_for("/echo", host="localhost")
        redirected = session.get(server.url_for(f"/redirect?to={target}"))
    plain = session.get(server.url_for("/echo"))
    assert server.betas == ["ctx-1,ctx-2", "ctx-1,ctx-2", None, None]
    assert sent_betas(response) == ("ctx-1", "ctx-2")
    assert_betas(response, ["ctx-2", "ctx-1"])
    assert_betas(redirected.history[0], "ctx-1", "ctx-2", exact=True)
    assert_betas(redirected, exact=True)
    assert_betas(plain, exact=True)
    assert sent_betas(plain) == ()


def test_requests_prepared_request_with_bytes_and_repeated_names() -> None:
    prepared = requests.Request("GET", URL, headers={"anthropic-beta": b"a-1,b-2,,a-1"}).prepare()
    assert sent_betas(prepared) == ("a-1", "b-2")


def test_requests_response_without_a_request() -> None:
    with pytest.raises(ValueError, match=r"has no request: its betas are unknown"):
        sent_betas(requests.Response())


# httpx and httpx2

STACKS = [pytest.param((httpx, bm_httpx), id="httpx"), pytest.param((httpx2, bm_httpx2), id="httpx2")]


@pytest.mark.parametrize("stacks", STACKS)
def test_httpx_mock_transport(stacks: tuple[ModuleType, ModuleType]) -> None:
    stack, integration = stacks
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return stack.Response(200, json={})

    transport = integration.BetaTransport(stack.MockTransport(handler), betas="fixed-1")
    with stack.Client(transport=transport) as client, betas("ctx-1"):
        response = client.get(URL, headers={"anthropic-beta": "own-1"})
    assert sent_betas(response) == ("own-1", "fixed-1", "ctx-1")
    assert sent_betas(response.request) == ("own-1", "fixed-1", "ctx-1")
    assert sent_betas(seen[0]) == ("own-1", "fixed-1", "ctx-1")
    assert_betas(response, "own-1", "fixed-1", "ctx-1", exact=True)


@pytest.mark.parametrize("stacks", STACKS)
def test_httpx_header_lines_are_all_read(stacks: tuple[ModuleType, ModuleType]) -> None:
    stack, _ = stacks
    request = stack.Request("GET", URL, headers=[("anthropic-beta", "a-1"), ("anthropic-beta", " b-2,a-1 ")])
    assert sent_betas(request) == ("a-1", "b-2")
    assert sent_betas(stack.Request("GET", URL)) == ()


@pytest.mark.parametrize("stacks", STACKS)
def test_httpx_response_without_a_request(stacks: tuple[ModuleType, ModuleType]) -> None:
    stack, _ = stacks
    with pytest.raises(ValueError, match=r"has no request: its betas are unknown"):
        sent_betas(stack.Response(200))


@pytest.mark.parametrize("stacks", STACKS)
async def test_httpx_against_the_loopback_server(
    server: Server, stacks: tuple[ModuleType, ModuleType]
) -> None:
    stack, integration = stacks
    async with stack.AsyncClient(transport=integration.AsyncBetaTransport()) as client:
        async with betas("ctx-1"):
            response = await client.get(server.url_for("/echo"))
        plain = await client.get(server.url_for("/echo"))
    with stack.Client(transport=integration.BetaTransport()) as sync_client, betas("ctx-1", "ctx-2"):
        sync_response = sync_client.get(server.url_for("/echo"))
    assert server.betas == ["ctx-1", None, "ctx-1,ctx-2"]
    assert_betas(response, "ctx-1", exact=True)
    assert_betas(plain, exact=True)
    assert sent_betas(sync_response) == ("ctx-1", "ctx-2")


# what is not supported


@pytest.mark.parametrize(
    "obj",
    [None, "a-1", {"anthropic-beta": "a-1"}, requests.Request("GET", URL), httpx.Headers({})],
    ids=["None", "str", "dict", "unprepared", "headers"],
)
def test_unsupported_objects(obj: object) -> None:
    with pytest.raises(
        TypeError, match=r"sent_betas\(\) takes a requests PreparedRequest or Response, .*got "
    ):
        sent_betas(obj)
    with pytest.raises(TypeError, match=re.escape(repr(obj))):
        assert_betas(obj, "a-1")


def test_no_stack_is_imported_and_none_is_needed() -> None:
    code = """
import sys
for name in ("requests", "responses", "httpx", "httpx2", "urllib3"):
    sys.modules[name] = None  # importing any of them now raises ImportError
import beta_middleware.testing as testing
try:
    testing.sent_betas(object())
except TypeError as exc:
    print(exc)
testing.matcher("a-1")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.startswith("sent_betas() takes a requests PreparedRequest")


# assert_betas


def request_with(value: str) -> httpx.Request:
    return httpx.Request("POST", URL, headers={"anthropic-beta": value})


def test_assert_betas_passes() -> None:
    request = request_with("a-1,b-2,c-3")
    assert_betas(request, "c-3", "a-1")
    assert_betas(request, ["b-2"], "a-1")
    assert_betas(request, "a-1", "b-2", "c-3", exact=True)
    assert_betas(request_with(""), exact=True)


def test_assert_betas_missing_shows_expected_sent_missing_unexpected() -> None:
    with pytest.raises(AssertionError) as info:
        assert_betas(request_with("a-1,x-9"), "a-1", "b-2")
    assert str(info.value) == (
        f"anthropic-beta of POST {URL} does not match\n"
        "  expected:   ('a-1', 'b-2') (at least)\n"
        "  sent:       ('a-1', 'x-9')\n"
        "  missing:    ('b-2',)\n"
        "  unexpected: ('x-9',)"
    )


def test_assert_betas_exact() -> None:
    with pytest.raises(AssertionError, match=r"(?s)exactly, in this order.*unexpected: \('x-9',\)$"):
        assert_betas(request_with("a-1,x-9"), "a-1", exact=True)
    with pytest.raises(AssertionError) as info:
        assert_betas(request_with("b-2,a-1"), "a-1", "b-2", exact=True)
    assert str(info.value).splitlines()[-3:] == [
        "  missing:    ()",
        "  unexpected: ()",
        "  order:      the same names, in another order",
    ]
    with pytest.raises(AssertionError, match=r"sent:       \('a-1',\)"):
        assert_betas(request_with("a-1"), exact=True)


def test_assert_betas_needs_names_unless_exact() -> None:
    with pytest.raises(TypeError, match=r"assert_betas\(\) needs the names to look for, or exact=True"):
        assert_betas(request_with("a-1"))
    with pytest.raises(TypeError, match=r"matcher\(\) needs the names to look for, or exact=True"):
        matcher()


def test_expected_names_are_checked_like_betas() -> None:
    with pytest.raises(InvalidBetaError, match=r"invalid beta name 'a 1': it contains a space"):
        assert_betas(request_with("a-1"), "a 1")
    with pytest.raises(InvalidBetaError, match=r"invalid beta name 'x,y'"):
        matcher("x,y")


# matcher


def test_matcher_returns_match_and_reason() -> None:
    prepared = requests.Request("POST", URL, headers={"anthropic-beta": "a-1,x-9"}).prepare()
    assert matcher("a-1")(prepared) == (True, "")
    assert matcher("x-9", "a-1")(prepared) == (True, "")
    assert matcher("a-1", "x-9", exact=True)(prepared) == (True, "")
    assert matcher("a-1", "b-2")(prepared) == (
        False,
        "anthropic-beta does not match: expected ('a-1', 'b-2') (at least); sent ('a-1', 'x-9'); "
        "missing ('b-2',); unexpected ('x-9',)",
    )
    matched, reason = matcher("a-1", exact=True)(prepared)
    assert not matched
    assert "unexpected ('x-9',)" in reason


def test_matcher_with_responses() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, URL, body="exact", match=[matcher("a-1", exact=True)])
        mock.add(responses.POST, URL, body="at least", match=[matcher("a-1")])
        session = beta_session()
        with betas("a-1"):
            assert session.post(URL).text == "exact"
        with betas("a-1", "b-2"):
            assert session.post(URL).text == "at least"
        with pytest.raises(requests.ConnectionError) as info:
            session.post(URL)
    assert "anthropic-beta does not match" in str(info.value)
    assert "missing ('a-1',)" in str(info.value)


# docs/testing.md


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOCS.read_text(encoding="utf-8"), re.M | re.S)


def test_docs_failure_message_is_the_real_one() -> None:
    (shown,) = blocks("text")
    request = request_with("files-api-2025-04-14,interleaved-thinking-2025-05-14")
    with pytest.raises(AssertionError) as info:
        assert_betas(request, "files-api-2025-04-14", "context-1m-2025-08-07")
    assert str(info.value) == shown.rstrip("\n")
