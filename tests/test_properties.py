"""Property tests: whatever names, scopes and headers, every integration sends the same clean value.

Each example goes through all five integrations - requests (via `responses`), httpx and
httpx2 (via `MockTransport`), sync and async - and what each one handed to the network
is compared with the contract's rule: the request's own names, then the integration's
`betas=`, then the context's, each once, joined by "," - or the request untouched when
nothing is added.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import httpx2
import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beta_middleware import InvalidBetaError, betas, current_betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware.requests import BetaAdapter

HEADER = "anthropic-beta"
URL = "https://api.anthropic.com/v1/messages"
TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
INTEGRATIONS = ("requests", "httpx", "httpx async", "httpx2", "httpx2 async")

# `CI` set (as CI services do): 2,000 examples per property; otherwise a quicker 300.
EXAMPLES = 2000 if os.environ.get("CI") else 300
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Names from a small pool repeat often (de-duplication is exercised); the rest are any token.
names = st.one_of(
    st.sampled_from(["files-api-2025-04-14", "context-1m-2025-08-07", "a", "A", "x.y"]),
    st.text(alphabet=TOKEN, min_size=1, max_size=12),
)
name_lists = st.lists(names, max_size=6)
# What a caller may legitimately write between names in its own header value.
separators = st.sampled_from([",", ", ", " ,", ",,", " , ", ",\t", ", ,"])
leading = st.sampled_from(["", ",", ", "])  # requests refuses a value that starts with whitespace
trailing = st.sampled_from(["", " ", "\t", ",", ", "])


@st.composite
def own_values(draw: st.DrawFn) -> str | None:
    """A header value a caller might set itself: names, list separators, blank items."""
    own = draw(st.none() | name_lists)
    if own is None:
        return None
    value = draw(leading)
    for i, name in enumerate(own):
        value += (draw(separators) if i else "") + name
    return value + draw(trailing) if value else value


@st.composite
def forbidden(draw: st.DrawFn) -> str:
    """A string that holds at least one character a beta name may not have (or is empty)."""
    bad = draw(st.characters(exclude_characters=TOKEN))
    return draw(st.sampled_from(["", "ok-", "a"])) + bad + draw(st.text(max_size=5))


def dedupe(*groups: list[str]) -> list[str]:
    return list(dict.fromkeys(name for group in groups for name in group))


def split_own(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class Network:
    """The five integrations, each ending in a fake network that records header lines."""

    def __init__(self) -> None:
        self.sent: dict[str, list[list[str]]] = {}
        self.loop = asyncio.new_event_loop()
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.mock.add_callback(responses.GET, URL, callback=self._requests_callback)

    def _record(self, integration: str, lines: list[str]) -> None:
        self.sent.setdefault(integration, []).append(lines)

    def _requests_callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        value = request.headers.get(HEADER)
        self._record("requests", [] if value is None else [str(value)])
        return 200, {}, "{}"

    def _handler(self, integration: str) -> Any:
        def handle(request: Any) -> Any:
            self._record(integration, request.headers.get_list(HEADER))
            stack = httpx2 if integration.startswith("httpx2") else httpx
            return stack.Response(200, json={})

        return handle

    def send_all(self, own: str | None, fixed: list[str]) -> dict[str, list[list[str]]]:
        """Send one GET through each integration built with `betas=fixed`; return what each sent."""
        self.sent = {}
        headers = {} if own is None else {HEADER: own}
        with requests.Session() as session:
            session.mount("https://", BetaAdapter(betas=fixed))
            session.get(URL, headers=headers)
        with httpx.Client(
            transport=bm_httpx.BetaTransport(httpx.MockTransport(self._handler("httpx")), betas=fixed)
        ) as c:
            c.get(URL, headers=headers)
        transport2 = bm_httpx2.BetaTransport(httpx2.MockTransport(self._handler("httpx2")), betas=fixed)
        with httpx2.Client(transport=transport2) as c2:
            c2.get(URL, headers=headers)
        self.loop.run_until_complete(self._send_async(headers, fixed))
        return self.sent

    async def _send_async(self, headers: dict[str, str], fixed: list[str]) -> None:
        mock = httpx.MockTransport(self._handler("httpx async"))
        async with httpx.AsyncClient(transport=bm_httpx.AsyncBetaTransport(mock, betas=fixed)) as c:
            await c.get(URL, headers=headers)
        mock2 = httpx2.MockTransport(self._handler("httpx2 async"))
        async with httpx2.AsyncClient(transport=bm_httpx2.AsyncBetaTransport(mock2, betas=fixed)) as c2:
            await c2.get(URL, headers=headers)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    net = Network()
    with net.mock:
        yield net
    net.loop.close()


@PROPERTY
@given(scopes=st.lists(name_lists, max_size=4))
def test_valid_names_arrive_in_order_once(network: Network, scopes: list[list[str]]) -> None:
    with ExitStack() as stack:
        for names_ in scopes:
            stack.enter_context(betas(names_))
        sent = network.send_all(None, [])
    want = dedupe(*scopes)
    expected = [",".join(want)] if want else []
    assert sent == {integration: [expected] for integration in INTEGRATIONS}


@PROPERTY
@given(own=own_values(), fixed=name_lists, scopes=st.lists(name_lists, max_size=3), off=st.booleans())
def test_sent_values_are_clean_and_merged(
    network: Network, own: str | None, fixed: list[str], scopes: list[list[str]], off: bool
) -> None:
    with ExitStack() as stack:
        for names_ in scopes:
            stack.enter_context(betas(names_))
        if off:
            stack.enter_context(betas(replace=True))
        sent = network.send_all(own, fixed)
    added = dedupe(fixed, *([] if off else scopes))
    for integration in INTEGRATIONS:
        (lines,) = sent[integration]
        if not added:  # nothing to add: the request leaves exactly as the caller made it
            assert lines == ([] if own is None else [own])
            continue
        (value,) = lines
        assert re.search(r"[\r\n ]", value) is None
        assert "" not in value.split(",")
        assert value.split(",") == dedupe(split_own(own), added)


@PROPERTY
@given(bad=forbidden(), good=name_lists, position=st.integers(min_value=0, max_value=6))
def test_forbidden_characters_are_refused_before_sending(
    network: Network, bad: str, good: list[str], position: int
) -> None:
    mixed = [*good[:position], bad, *good[position:]]
    network.sent = {}
    with betas("outer-2025-01-01"):
        with pytest.raises(InvalidBetaError) as caught, betas(mixed):
            network.send_all(None, [])  # never reached
        assert repr(bad) in str(caught.value)
        assert current_betas() == ("outer-2025-01-01",)  # nothing was activated
    for build in (
        lambda: BetaAdapter(betas=mixed),
        lambda: bm_httpx.BetaTransport(betas=mixed),
        lambda: bm_httpx.AsyncBetaTransport(betas=mixed),
        lambda: bm_httpx2.BetaTransport(betas=mixed),
        lambda: bm_httpx2.AsyncBetaTransport(betas=mixed),
    ):
        with pytest.raises(InvalidBetaError) as caught:
            build()
        assert repr(bad) in str(caught.value)
    assert network.sent == {}
