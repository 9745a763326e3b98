"""The httpx and httpx2 integrations: every test runs once per stack."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest

import beta_middleware.httpx
import beta_middleware.httpx2
from beta_middleware import HEADER, InvalidBetaError, betas

from .server import Server

API = "https://api.anthropic.com/v1/messages"


@dataclass
class Stack:
    http: Any  # the httpx or httpx2 module
    beta: Any  # beta_middleware.httpx or beta_middleware.httpx2

    def recording(self, seen: list[Any]) -> Any:
        """A MockTransport that records each request it gets."""

        def handler(request: Any) -> Any:
            seen.append(request)
            return self.http.Response(200, json={HEADER: request.headers.get(HEADER)})

        return self.http.MockTransport(handler)


@pytest.fixture(
    params=[(httpx, beta_middleware.httpx), (httpx2, beta_middleware.httpx2)], ids=["httpx", "httpx2"]
)
def stack(request: pytest.FixtureRequest) -> Stack:
    return Stack(*request.param)


# --- over MockTransport ----------------------------------------------------------------


def test_merge_order_client_request_fixed_context(stack: Stack) -> None:
    seen: list[Any] = []
    transport = stack.beta.BetaTransport(stack.recording(seen), betas=["fixed-1", "ctx-1"])
    client = stack.http.Client(transport=transport, headers={HEADER: "client-1"})
    with betas("ctx-1", "ctx-2"):
        client.get(API)
        response = client.get(API, headers={HEADER: "request-1, fixed-1"})
    assert [r.headers[HEADER] for r in seen] == [
        "client-1,fixed-1,ctx-1,ctx-2",
        "request-1,fixed-1,ctx-1,ctx-2",  # httpx lets request headers override the client's
    ]
    assert response.request.headers[HEADER] == "request-1,fixed-1,ctx-1,ctx-2"
    assert response.request.headers.get_list(HEADER) == ["request-1,fixed-1,ctx-1,ctx-2"]


async def test_async_merge_and_response_request(stack: Stack) -> None:
    seen: list[Any] = []
    transport = stack.beta.AsyncBetaTransport(stack.recording(seen), betas="fixed-1")
    async with stack.http.AsyncClient(transport=transport) as client:
        with betas("ctx-1"):
            response = await client.get(API, headers={HEADER: "own-1"})
    assert seen[0].headers[HEADER] == "own-1,fixed-1,ctx-1"
    assert response.request.headers[HEADER] == "own-1,fixed-1,ctx-1"


async def test_async_transport_sets_the_header_when_called_and_hands_back_the_inner_awaitable(
    stack: Stack,
) -> None:
    # Not a coroutine of its own, to save one per request: the header is set by the call,
    # in the caller's context, and the wrapped transport's awaitable is what gets awaited.
    seen: list[Any] = []
    transport = stack.beta.AsyncBetaTransport(stack.recording(seen))
    request = stack.http.Request("GET", API)
    with betas("ctx-1"):
        pending = transport.handle_async_request(request)
    assert request.headers[HEADER] == "ctx-1"
    assert seen == []
    response = await pending
    assert seen == [request]
    assert response.json() == {HEADER: "ctx-1"}


def test_a_wrapper_inside_another_adds_nothing_again(stack: Stack) -> None:
    # The inner wrapper has nothing of its own to add: it passes on what the outer one set.
    seen: list[Any] = []
    inner = stack.beta.BetaTransport(stack.recording(seen))
    client = stack.http.Client(transport=stack.beta.BetaTransport(inner, betas="fixed-1"))
    client.get(API, headers={HEADER: "own-1"})
    assert seen[0].headers.get_list(HEADER) == ["own-1,fixed-1"]


def test_several_header_lines_are_merged_into_one(stack: Stack) -> None:
    seen: list[Any] = []
    client = stack.http.Client(transport=stack.beta.BetaTransport(stack.recording(seen)))
    with betas("ctx-1"):
        client.get(API, headers=[(HEADER, "a, b"), (HEADER, "c,,a")])
    assert seen[0].headers.get_list(HEADER) == ["a,b,c,ctx-1"]


def test_nothing_active_leaves_a_request_to_the_hosts_as_it_was(stack: Stack) -> None:
    seen: list[Any] = []
    client = stack.http.Client(
        transport=stack.beta.BetaTransport(stack.recording(seen), hosts="api.anthropic.com")
    )
    client.get(API, headers=[(HEADER, "own , x")])
    assert seen[0].headers.get_list(HEADER) == ["own , x"]
    assert "beta_middleware.own" not in seen[0].extensions


def test_nothing_active_leaves_the_request_as_it_was(stack: Stack) -> None:
    seen: list[Any] = []
    client = stack.http.Client(transport=stack.beta.BetaTransport(stack.recording(seen)))
    client.get(API)
    client.get(API, headers=[(HEADER, "own , x"), (HEADER, "y")])
    with betas("a"), betas(replace=True):
        client.get(API)
    assert HEADER not in seen[0].headers
    assert seen[1].headers.get_list(HEADER) == ["own , x", "y"]
    assert HEADER not in seen[2].headers
    assert all("beta_middleware.own" not in r.extensions for r in seen)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.anthropic.com/x", True),
        ("https://API.Anthropic.com/x", True),
        ("https://api.anthropic.com./x", True),  # not in the exact set as given: the full check
        ("https://a.example.com/x", True),
        ("https://a.b.example.com:8443/x", True),
        ("https://example.com/x", False),
        ("https://other.org/x", False),
    ],
)
def test_hosts_exact_wildcard_and_case(stack: Stack, url: str, sent: bool) -> None:
    seen: list[Any] = []
    transport = stack.beta.BetaTransport(stack.recording(seen), hosts=["api.anthropic.com", "*.example.com"])
    with betas("ctx-1"):
        stack.http.Client(transport=transport).get(url, headers={HEADER: "own-1"})
    assert seen[0].headers[HEADER] == ("own-1,ctx-1" if sent else "own-1")


def test_redirect_leaving_the_hosts_carries_only_what_the_caller_set(stack: Stack) -> None:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        if request.url.host == "api.anthropic.com":
            return stack.http.Response(302, headers={"Location": "https://elsewhere.org/next"})
        return stack.http.Response(200)

    transport = stack.beta.BetaTransport(
        stack.http.MockTransport(handler), betas="fixed-1", hosts="api.anthropic.com"
    )
    client = stack.http.Client(transport=transport, follow_redirects=True)
    with betas("ctx-1"):
        client.get(API, headers={HEADER: "own-1"})
        client.get(API)
    assert [(r.url.host, r.headers.get(HEADER)) for r in seen] == [
        ("api.anthropic.com", "own-1,fixed-1,ctx-1"),
        ("elsewhere.org", "own-1"),
        ("api.anthropic.com", "fixed-1,ctx-1"),
        ("elsewhere.org", None),
    ]


def test_bad_input_is_refused_before_anything_is_built(stack: Stack) -> None:
    for cls in (stack.beta.BetaTransport, stack.beta.AsyncBetaTransport):
        with pytest.raises(InvalidBetaError, match=r"'bad,name'"):
            cls(betas=["ok", "bad,name"])
        with pytest.raises(ValueError, match=r"'api.anthropic.com/v1'"):
            cls(hosts="api.anthropic.com/v1")
    with pytest.raises(InvalidBetaError, match=r"b'x'"):
        stack.beta.instrument(stack.http.Client(), betas=[b"x"])


def test_a_transport_of_the_other_stack_is_refused(stack: Stack) -> None:
    other = httpx2 if stack.http is httpx else httpx
    with pytest.raises(TypeError, match=rf"wraps a {stack.http.__name__}\.BaseTransport"):
        stack.beta.BetaTransport(other.HTTPTransport())
    with pytest.raises(TypeError, match=rf"wraps a {stack.http.__name__}\.AsyncBaseTransport"):
        stack.beta.AsyncBetaTransport(stack.http.HTTPTransport())


def test_default_transports_and_repr(stack: Stack) -> None:
    sync = stack.beta.BetaTransport(betas="a")
    assert type(sync.transport) is stack.http.HTTPTransport
    assert isinstance(sync, stack.http.BaseTransport)
    asyn = stack.beta.AsyncBetaTransport()
    assert type(asyn.transport) is stack.http.AsyncHTTPTransport
    assert isinstance(asyn, stack.http.AsyncBaseTransport)
    assert repr(sync).startswith("BetaTransport(<")
    assert repr(sync).endswith("Rules(betas=['a'], hosts=None))")


class Spy:
    """Counts the calls a wrapper forwards."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def patch(self, *names: str) -> None:
        for name in names:
            method = getattr(self.inner, name)
            setattr(self.inner, name, self._record(name, method))

    def _record(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls.append(name)
            return method(*args)

        return call


def test_close_and_context_manager_reach_the_inner_transport(stack: Stack) -> None:
    inner = stack.http.HTTPTransport()
    spy = Spy(inner)
    spy.patch("__enter__", "__exit__", "close")
    with stack.http.Client(transport=stack.beta.BetaTransport(inner)):
        pass
    stack.beta.BetaTransport(inner).close()
    assert spy.calls == ["__enter__", "__exit__", "close"]


async def test_aclose_and_async_context_manager_reach_the_inner_transport(stack: Stack) -> None:
    calls: list[str] = []
    inner = stack.http.AsyncHTTPTransport()

    def record(name: str) -> Any:
        method = getattr(inner, name)

        async def call(*args: Any) -> Any:
            calls.append(name)
            return await method(*args)

        return call

    for name in ("__aenter__", "__aexit__", "aclose"):
        setattr(inner, name, record(name))
    async with stack.http.AsyncClient(transport=stack.beta.AsyncBetaTransport(inner)):
        pass
    await stack.beta.AsyncBetaTransport(inner).aclose()
    assert calls == ["__aenter__", "__aexit__", "aclose"]


# --- instrument --------------------------------------------------------------------------


def mounted(client: Any) -> tuple[Any, dict[Any, Any]]:
    """The spot instrument() reaches into: the client's transport and mounts."""
    return client._transport, dict(client._mounts)


def test_instrument_wraps_transport_and_mounts_keeping_none(stack: Stack) -> None:
    seen: list[Any] = []
    proxy_like = stack.recording(seen)
    client = stack.http.Client(
        transport=stack.recording(seen),
        mounts={"https://proxied.example.com": proxy_like, "https://direct.example.com": None},
    )
    inner, mounts_before = mounted(client)
    assert stack.beta.instrument(client, betas="fixed-1") is client
    transport, mounts = mounted(client)
    assert isinstance(transport, stack.beta.BetaTransport)
    assert transport.transport is inner  # the client's own transport, kept
    wrapped = {str(pattern.pattern): t for pattern, t in mounts.items()}
    assert wrapped["https://direct.example.com"] is None
    assert wrapped["https://proxied.example.com"].transport is proxy_like
    assert transport.rules is wrapped["https://proxied.example.com"].rules  # one set of rules
    with betas("ctx-1"):
        for url in (
            "https://api.anthropic.com/",
            "https://proxied.example.com/",
            "https://direct.example.com/",
        ):
            client.get(url)
    assert [r.headers[HEADER] for r in seen] == ["fixed-1,ctx-1"] * 3
    assert len(mounts_before) == 2


def test_instrument_twice_changes_nothing(stack: Stack) -> None:
    client = stack.http.Client(mounts={"https://x.example.com": stack.http.HTTPTransport(), "all://y": None})
    stack.beta.instrument(client, betas="a", hosts=["*.example.com"])
    before = mounted(client)
    stack.beta.instrument(client, betas="a", hosts=["*.example.com"])
    after = mounted(client)
    assert after[0] is before[0]
    assert after[1] == before[1]
    assert all(a is b for a, b in zip(after[1].values(), before[1].values(), strict=True))


def test_instrument_again_with_other_settings_is_refused_and_changes_nothing(stack: Stack) -> None:
    client = stack.http.Client()
    stack.beta.instrument(client, betas="a")
    before = mounted(client)
    with pytest.raises(ValueError, match="already instrumented"):
        stack.beta.instrument(client, betas="b")
    assert mounted(client)[0] is before[0]


async def test_instrument_async_client(stack: Stack) -> None:
    seen: list[Any] = []
    client = stack.http.AsyncClient(transport=stack.recording(seen))
    stack.beta.instrument(client)
    assert isinstance(mounted(client)[0], stack.beta.AsyncBetaTransport)
    with betas("ctx-1"):
        await client.get(API)
    assert seen[0].headers[HEADER] == "ctx-1"


def test_instrument_refuses_other_objects(stack: Stack) -> None:
    other = httpx2 if stack.http is httpx else httpx
    with pytest.raises(TypeError, match=r"takes a .*Client or AsyncClient"):
        stack.beta.instrument(other.Client())
    with pytest.raises(TypeError):
        stack.beta.instrument(types.SimpleNamespace())


# --- through a real server on 127.0.0.1, with the default real transport ------------------


def test_real_server_sync(stack: Stack, server: Server) -> None:
    with stack.http.Client(transport=stack.beta.BetaTransport(betas="fixed-1")) as client:
        with betas("ctx-1"):
            response = client.get(server.url_for("/echo"), headers={HEADER: "own-1"})
        client.get(server.url_for("/echo"))
    assert response.json()[HEADER] == "own-1,fixed-1,ctx-1"
    assert response.request.headers[HEADER] == "own-1,fixed-1,ctx-1"
    assert server.betas == ["own-1,fixed-1,ctx-1", "fixed-1"]


async def test_real_server_async(stack: Stack, server: Server) -> None:
    async with stack.http.AsyncClient(transport=stack.beta.AsyncBetaTransport()) as client:
        with betas("ctx-1"):
            response = await client.get(server.url_for("/echo"))
    assert response.json()[HEADER] == "ctx-1"
    assert server.betas == ["ctx-1"]


def test_real_redirect_leaving_the_hosts(stack: Stack, server: Server) -> None:
    transport = stack.beta.BetaTransport(betas="fixed-1", hosts=["127.0.0.1"])
    target = server.url_for("/echo", host="localhost")
    with stack.http.Client(transport=transport, follow_redirects=True) as client, betas("ctx-1"):
        response = client.get(server.url_for(f"/redirect?to={target}"), headers={HEADER: "own-1"})
    assert response.json()[HEADER] == "own-1"
    assert server.betas == ["own-1,fixed-1,ctx-1", "own-1"]
    assert response.history[0].request.headers[HEADER] == "own-1,fixed-1,ctx-1"


async def test_real_redirect_within_the_hosts_keeps_the_betas(stack: Stack, server: Server) -> None:
    transport = stack.beta.AsyncBetaTransport(hosts=["127.0.0.1", "localhost"])
    target = server.url_for("/echo", host="localhost")
    async with stack.http.AsyncClient(transport=transport, follow_redirects=True) as client:
        with betas("ctx-1"):
            await client.get(server.url_for(f"/redirect?to={target}"))
    assert server.betas == ["ctx-1", "ctx-1"]


def test_real_instrumented_client(stack: Stack, server: Server) -> None:
    with stack.beta.instrument(stack.http.Client(), betas="fixed-1") as client, betas("ctx-1"):
        client.get(server.url_for("/echo"))
    assert server.betas == ["fixed-1,ctx-1"]


def test_streamed_response_is_not_read_ahead(stack: Stack, server: Server) -> None:
    client = stack.http.Client(transport=stack.beta.BetaTransport(), timeout=10)
    with client, betas("ctx-1"), client.stream("GET", server.url_for("/stream")) as response:
        assert not server.stream_finished.is_set()  # the body's end has not even been sent
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        server.release.set()
        assert b"".join(chunks) == b"second"
    assert server.betas == ["ctx-1"]


async def test_async_streamed_response_is_not_read_ahead(stack: Stack, server: Server) -> None:
    async with stack.http.AsyncClient(transport=stack.beta.AsyncBetaTransport(), timeout=10) as client:
        with betas("ctx-1"):
            async with client.stream("GET", server.url_for("/stream")) as response:
                assert not server.stream_finished.is_set()
                chunks = response.aiter_raw()
                assert await anext(chunks) == b"first"
                server.release.set()
                assert b"".join([chunk async for chunk in chunks]) == b"second"
