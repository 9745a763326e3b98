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

from beta_middleware import InvalidBetaError, betas, current_betas, rejected_betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware._core.rejected import parse
from beta_middleware.requests import BetaAdapter

HEADER = "anthropic-beta"
URL = "https://api.anthropic.com/v1/messages"
TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
INTEGRATIONS = ("requests", "httpx", "httpx async", "httpx2", "httpx2 async")

# `CI` set (as CI services do): 2,000 examples per property; otherwise a quicker 300.
# PROPERTY_EXAMPLES, when set, says how many: scripts/test runs the full 2,000 in one lane
# only (under CI, hypothesis derandomizes: every lane would draw the very same examples).
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES") or (2000 if os.environ.get("CI") else 300))
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


# The rejection parser: a linear scanner that finds what the original regexes found.

_REF_UNSUPPORTED = re.compile(r"unsupported beta headers?\s*:\s*(?P<names>[^\r\n]*)", re.IGNORECASE)
_REF_UNEXPECTED = re.compile(
    r"unexpected values?(?:\(s\))?\s+(?P<names>.*?)\s+for the\s+`?anthropic-beta`?\s+header",
    re.IGNORECASE | re.DOTALL,
)


def reference_parse(message: str) -> tuple[str, ...] | None:
    """The parser as it was, with backtracking regexes: the specification, for short messages."""

    def names_in(pieces: list[str]) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for piece in pieces:
            words = piece.split()
            name = words[0].strip("'\"`.;:()[] \t") if words else ""
            if re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
                found[name] = None
        return tuple(found)

    match = _REF_UNSUPPORTED.search(message)
    if match is not None:
        return names_in(match["names"].split(","))
    match = _REF_UNEXPECTED.search(message)
    if match is not None:
        quoted = re.findall(r"`([^`]*)`", match["names"])
        return names_in(quoted if quoted else match["names"].split(","))
    if re.search("invalid beta flag", message, re.IGNORECASE):
        return ()
    return None


# The words of the three shapes, in any case, with names, junk, blank runs and quotes between.
_WORDS = [
    "Unsupported beta header",
    "unsupported beta headers",
    "UNSUPPORTED BETA HEADER",
    "Unexpected value(s)",
    "unexpected value",
    "Unexpected values",
    "for the",
    "FOR THE",
    "`anthropic-beta`",
    "anthropic-beta",
    "`anthropic-beta",
    "header",
    "Header.",
    "invalid beta flag",
    ":",
    ",",
    ", ",
    "`",
    "(s)",
    ".",
    "'",
    '"',
]
_blanks = st.text(alphabet=" \t\r\n\x0b\x0c\u00a0\u2003", min_size=1, max_size=4)
_pieces = st.one_of(st.sampled_from(_WORDS), names, _blanks, st.text(max_size=4))


@st.composite
def messages(draw: st.DrawFn) -> str:
    """One of the three shapes, word by word, then a few words dropped, changed or added."""
    listed = draw(st.lists(st.one_of(names, st.sampled_from(["`a`", "`b", "a`", "``", "`c`."])), max_size=4))
    sep = draw(st.sampled_from([", ", ",", " ", "` `", "`,`"]))
    blank = draw(_blanks)
    template = draw(
        st.sampled_from(
            [
                ["Unsupported beta header", blank, ":", blank, sep.join(listed)],
                [
                    "Unexpected value(s)",
                    blank,
                    sep.join(f"`{n}`" for n in listed),
                    blank,
                    "for the",
                    blank,
                    "`anthropic-beta`",
                    blank,
                    "header",
                ],
                [
                    "unexpected values",
                    " ",
                    sep.join(listed),
                    " ",
                    "for the",
                    " ",
                    "anthropic-beta",
                    " ",
                    "header",
                ],
                ["An error occurred (ValidationException): ", "invalid beta flag"],
            ]
        )
    )
    words = list(template)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(words)))
        action = draw(st.sampled_from(["drop", "change", "add"]))
        piece = draw(_pieces)
        if action == "add" or at == len(words):
            words.insert(at, piece)
        elif action == "drop":
            del words[at]
        else:
            words[at] = piece
    return "".join(words)


@PROPERTY
@given(message=messages())
def test_rejection_parser_matches_the_regexes(message: str) -> None:
    assert parse(message) == reference_parse(message)


@PROPERTY
@given(
    shape=st.sampled_from(["unsupported", "unexpected", "bedrock"]),
    listed=name_lists,
    junk=st.text(max_size=8),
)
def test_each_shape_names_what_it_lists(shape: str, listed: list[str], junk: str) -> None:
    # names as the API writes them: no quote, dot or bracket at their edges, no backtick
    unique = [n for n in dict.fromkeys(listed) if n.strip("'`.") == n and "`" not in n]
    message = {
        "unsupported": "Unsupported beta header: " + ", ".join(unique),
        "unexpected": "Unexpected value(s) "
        + ", ".join(f"`{n}`" for n in unique)
        + " for the `anthropic-beta` header.",
        "bedrock": "ValidationException: invalid beta flag",
    }[shape]
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": junk + " " + message}}
    assert rejected_betas(body) == (() if shape == "bedrock" else tuple(unique))
