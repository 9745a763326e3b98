"""The per-request caches and shortcuts of the hot paths give what the plain code gives."""

from __future__ import annotations

import asyncio

import requests
from requests.structures import CaseInsensitiveDict

from beta_middleware import HEADER, betas
from beta_middleware._header import HostMatcher, Rules, merge
from beta_middleware.requests import _copy_with


def test_merged_is_recomputed_when_own_values_or_names_change() -> None:
    rules = Rules()
    with betas("a-1", "b-1"):
        added = rules.added()
        assert rules.merged(("own-1",), added) == "own-1,a-1,b-1"
        assert rules.merged(["own-1"], added) == "own-1,a-1,b-1"
        assert rules.merged(("own-2, a-1",), added) == "own-2,a-1,b-1"
        assert rules.merged(("x", "y"), added) == merge(("x", "y"), added) == "x,y,a-1,b-1"
        with betas("c-1"):
            assert rules.merged(("x", "y"), rules.added()) == "x,y,a-1,b-1,c-1"
        assert rules.merged(("x", "y"), added) == "x,y,a-1,b-1"


def test_added_is_right_for_integrations_and_contexts_taking_turns() -> None:
    one, two = Rules(betas="fixed-1"), Rules(betas=["fixed-2", "a-1"])
    with betas("a-1"):
        for _ in range(2):  # the second pass reads the caches
            assert one.added().names == ("fixed-1", "a-1")
            assert two.added().names == ("fixed-2", "a-1")
            with betas("b-1"):
                assert one.added().names == ("fixed-1", "a-1", "b-1")
                assert two.added().names == ("fixed-2", "a-1", "b-1")
    assert one.added().names == ("fixed-1",)


async def test_added_is_right_for_many_interleaved_tasks() -> None:
    rules = Rules(betas="fixed-1")
    seen: dict[int, list[tuple[str, ...]]] = {}

    async def task(i: int) -> None:
        async with betas(f"task-{i}"):
            for _ in range(3):
                seen.setdefault(i, []).append(rules.header(()) or "")  # type: ignore[arg-type]
                await asyncio.sleep(0)

    await asyncio.gather(*(task(i) for i in range(50)))
    assert seen == {i: [f"fixed-1,task-{i}"] * 3 for i in range(50)}  # type: ignore[comparison-overlap]


def test_host_matcher_answers_alike_with_its_memo() -> None:
    spec = ["api.example.com", "*.b.example.com"]
    matcher = HostMatcher(spec)
    hosts = ["", "api.example.com", "API.Example.com.", "example.com", "a.b.example.com", "b.example.com"]
    for host in [*hosts, *hosts[::-1], *(h for h in hosts for _ in range(2))]:
        assert matcher(host) is HostMatcher(spec)(host), host
    assert [matcher(h) for h in hosts] == [False, True, True, False, True, False]


def _prepared(**headers: str) -> requests.PreparedRequest:
    session = requests.Session()
    request = requests.Request("POST", "https://api.example.com/v1", headers=headers, data=b"body")
    request.cookies = {"c": "1"}
    return session.prepare_request(request)


def test_copy_with_is_a_copy_carrying_the_header_and_leaves_the_original() -> None:
    original = _prepared(**{"Anthropic-Beta": "own-1", "X-Other": "1"})
    before = dict(original.headers)
    assert isinstance(original.headers._store, dict)  # the private spot `_copy_with` reads
    sent = _copy_with(original, "own-1,a-1")
    assert sent is not original
    assert type(sent) is requests.PreparedRequest
    assert type(sent.headers) is CaseInsensitiveDict
    assert dict(original.headers) == before
    assert sent.headers["anthropic-beta"] == sent.headers["ANTHROPIC-BETA"] == "own-1,a-1"
    others = {k: v for k, v in before.items() if k != "Anthropic-Beta"}
    assert dict(sent.headers) == {**others, HEADER: "own-1,a-1"}
    assert (sent.method, sent.url, sent.body, sent.hooks) == (
        original.method,
        original.url,
        original.body,
        original.hooks,
    )
    assert sent._body_position == original._body_position
    assert sent._cookies is original._cookies  # shared: nothing writes through the sent copy
    sent.headers["X-Other"] = "2"
    assert original.headers["X-Other"] == "1"


def test_copy_with_falls_back_to_copy_for_other_types() -> None:
    class Custom(requests.PreparedRequest):
        pass

    original = _prepared()
    custom = Custom()
    custom.__dict__.update(original.copy().__dict__)
    sent = _copy_with(custom, "a-1")
    assert sent is not custom  # `custom.copy()` made it
    assert sent.headers[HEADER] == "a-1"
    assert HEADER not in custom.headers
