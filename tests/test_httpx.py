"""The httpx and httpx2 integrations: every test runs once per stack."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import beta_middleware.httpx
import beta_middleware.httpx2
from beta_middleware import HEADER, InvalidBetaError, betas

from .server import CHAINS, Server, chain_hosts, expected_hops
from .test_compat import transport_and_mounts

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


@pytest.mark.parametrize("other", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_a_transport_of_the_other_kind_or_stack_names_the_class_to_use(stack: Stack, other: Any) -> None:
    me = stack.http.__name__
    cases = [
        (stack.beta.BetaTransport, other.HTTPTransport(), "BetaTransport", "BaseTransport"),
        (stack.beta.BetaTransport, other.AsyncHTTPTransport(), "AsyncBetaTransport", "AsyncBaseTransport"),
        (stack.beta.AsyncBetaTransport, other.HTTPTransport(), "BetaTransport", "BaseTransport"),
        (
            stack.beta.AsyncBetaTransport,
            other.AsyncHTTPTransport(),
            "AsyncBetaTransport",
            "AsyncBaseTransport",
        ),
        (
            stack.beta.BetaTransport,
            other.MockTransport(lambda r: other.Response(200)),
            "BetaTransport",
            "BaseTransport",
        ),
    ]
    for cls, transport, fits, kind in cases:
        if cls.__name__ == fits and other is stack.http:
            cls(transport)  # the right one: taken
            continue
        with pytest.raises(TypeError) as info:
            cls(transport)
        base = "AsyncBaseTransport" if cls.__name__.startswith("Async") else "BaseTransport"
        assert str(info.value) == (
            f"{cls.__name__} wraps a {me}.{base}, got {transport!r}, a {other.__name__}.{kind}: "
            f"wrap it in beta_middleware.{other.__name__}.{fits}"
        )


@pytest.mark.parametrize("names", ["files-api-2025-04-14", ["a-1", "b-1"], ("a-1",), frozenset({"a-1"})])
def test_beta_names_where_the_transport_goes_suggest_betas(stack: Stack, names: Any) -> None:
    for cls in (stack.beta.BetaTransport, stack.beta.AsyncBetaTransport):
        with pytest.raises(TypeError, match="beta names go in betas=") as info:
            cls(names)
        assert f"got {names!r}" in str(info.value)
        assert f"{cls.__name__}(betas={names!r})" in str(info.value)


@pytest.mark.parametrize("odd", [3, None.__class__, [], [1, "a"], b"a-1", object()])
def test_other_objects_where_the_transport_goes_are_refused(stack: Stack, odd: object) -> None:
    with pytest.raises(TypeError, match=r"wraps a .*BaseTransport, got ") as info:
        stack.beta.BetaTransport(odd)
    assert repr(odd) in str(info.value)
    assert "betas=" not in str(info.value)


async def test_a_sync_transport_in_an_async_client_says_what_to_use(stack: Stack) -> None:
    transport = stack.beta.BetaTransport(stack.recording([]))
    name = stack.http.__name__
    said = rf"cannot serve an async {name} client: use beta_middleware\.{name}\.AsyncBetaTransport"
    with pytest.raises(TypeError, match=said):
        await stack.http.AsyncClient(transport=transport).get(API)
    with pytest.raises(TypeError, match=said):
        async with stack.http.AsyncClient(transport=transport):
            pass
    with pytest.raises(TypeError, match=said):
        await stack.http.AsyncClient(transport=transport).aclose()
    with pytest.raises(TypeError, match=said):
        async with transport:
            pass


def test_an_async_transport_in_a_sync_client_says_what_to_use(stack: Stack) -> None:
    transport = stack.beta.AsyncBetaTransport(stack.recording([]))
    name = stack.http.__name__
    said = rf"cannot serve a sync {name} client: use beta_middleware\.{name}\.BetaTransport"
    with pytest.raises(TypeError, match=said):
        stack.http.Client(transport=transport).get(API)
    with pytest.raises(TypeError, match=said), stack.http.Client(transport=transport):
        pass
    with pytest.raises(TypeError, match=said):
        stack.http.Client(transport=transport).close()
    with pytest.raises(TypeError, match=said), transport:
        pass


def test_default_transports_and_repr(stack: Stack) -> None:
    sync = stack.beta.BetaTransport(betas="a")
    assert type(sync.transport) is stack.http.HTTPTransport
    assert isinstance(sync, stack.http.BaseTransport)
    asyn = stack.beta.AsyncBetaTransport()
    assert type(asyn.transport) is stack.http.AsyncHTTPTransport
    assert isinstance(asyn, stack.http.AsyncBaseTransport)
    assert repr(sync) == f"BetaTransport({sync.transport!r}, betas=['a'], hosts=None)"
    both = stack.beta.AsyncBetaTransport(
        asyn.transport, betas=["a", "b"], hosts="*.x.com", drop_rejected=True
    )
    assert (
        repr(both)
        == f"AsyncBetaTransport({asyn.transport!r}, betas=['a', 'b'], hosts=['*.x.com'], drop_rejected=True)"
    )


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


mounted = transport_and_mounts  # the spot instrument() reaches into (pinned in test_compat)


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
    with pytest.raises(ValueError, match="already instrumented") as info:
        stack.beta.instrument(client, betas="b")
    assert str(info.value) == (
        f"{client!r} is already instrumented: {before[0]!r}; "
        "refusing to wrap it again with betas=['b'], hosts=None"
    )
    assert repr(before[0]).startswith(f"BetaTransport({before[0].transport!r}, betas=['a']")
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
    for client in (other.Client(), other.AsyncClient()):
        with pytest.raises(TypeError) as info:
            stack.beta.instrument(client)
        assert str(info.value) == (
            f"instrument() takes a {stack.http.__name__}.Client or AsyncClient, got {client!r}; "
            f"for a {other.__name__} client use beta_middleware.{other.__name__}.instrument"
        )
    with pytest.raises(TypeError, match=r"takes a .*Client or AsyncClient, got namespace\(\)$"):
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


# --- a request sent again, and chains of redirect hops -----------------------------------


def mixed(stack: Stack, seen: list[Any], refuse: set[str]) -> Any:
    """A MockTransport recording each request; 400 rejecting any name of `refuse` it carries."""

    def handler(request: Any) -> Any:
        seen.append(request.headers.get(HEADER))
        hit = [n for n in (request.headers.get(HEADER) or "").split(",") if n in refuse]
        if hit:
            return stack.http.Response(400, json=_unsupported(hit[0]))
        return stack.http.Response(200)

    return stack.http.MockTransport(handler)


def _unsupported(name: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": f"Unsupported beta header: {name}"},
    }


@pytest.mark.parametrize("own", [None, "own-1"])
def test_a_request_sent_again_starts_from_what_the_caller_set(stack: Stack, own: str | None) -> None:
    seen: list[Any] = []
    client = stack.http.Client(transport=stack.beta.BetaTransport(mixed(stack, seen, set())))
    request = client.build_request("GET", API, headers={} if own is None else {HEADER: own})
    with betas("a"):
        client.send(request)
    client.send(request)
    with betas("b"):
        client.send(request)
    with betas("a"), betas("c"):
        client.send(request)
    client.send(request)
    prefix = f"{own}," if own else ""
    assert seen == [f"{prefix}a", own, f"{prefix}b", f"{prefix}a,c", own]
    assert request.headers.get(HEADER) == own  # the last send added nothing


@pytest.mark.parametrize("own", [None, "own-1"])
async def test_async_a_request_sent_again_starts_from_what_the_caller_set(
    stack: Stack, own: str | None
) -> None:
    seen: list[Any] = []
    transport = stack.beta.AsyncBetaTransport(
        mixed(stack, seen, set()), betas="fixed-1", hosts="api.anthropic.com"
    )
    async with stack.http.AsyncClient(transport=transport) as client:
        request = client.build_request("GET", API, headers={} if own is None else {HEADER: own})
        with betas("a"):
            await client.send(request)
        await client.send(request)
        with betas("b"):
            await client.send(request)
    prefix = f"{own}," if own else ""
    assert seen == [
        f"{prefix}fixed-1,a",
        f"{prefix}fixed-1",
        f"{prefix}fixed-1,b",
    ]


def test_a_value_the_caller_sets_between_sends_is_the_callers(stack: Stack) -> None:
    seen: list[Any] = []
    client = stack.http.Client(transport=stack.beta.BetaTransport(mixed(stack, seen, set())))
    request = client.build_request("GET", API)
    with betas("a"):
        client.send(request)
    request.headers[HEADER] = "mine-1"
    with betas("b"):
        client.send(request)
    client.send(request)
    del request.headers[HEADER]
    with betas("c"):
        client.send(request)
    assert seen == ["a", "mine-1,b", "mine-1", "c"]


def test_layered_wrappers_send_again_without_stale_names(stack: Stack) -> None:
    # The inner wrapper takes what the outer one set as given; sent again, each layer
    # starts from what it was given before, not from what the last send left.
    seen: list[Any] = []
    inner = stack.beta.BetaTransport(mixed(stack, seen, set()), betas="inner-1")
    client = stack.http.Client(transport=stack.beta.BetaTransport(inner, betas="outer-1"))
    request = client.build_request("GET", API, headers={HEADER: "own-1"})
    with betas("a"):
        client.send(request)
    with betas("b"):
        client.send(request)
    client.send(request)
    assert seen == [
        "own-1,outer-1,a,inner-1",
        "own-1,outer-1,b,inner-1",
        "own-1,outer-1,inner-1",
    ]
    bare = stack.http.Client(
        transport=stack.beta.BetaTransport(stack.beta.BetaTransport(mixed(stack, seen, set())))
    )
    again = bare.build_request("GET", API)
    with betas("a"):
        bare.send(again)
    bare.send(again)
    assert seen[3:] == ["a", None]


def test_stale_names_are_neither_sent_nor_taken_for_the_callers(stack: Stack) -> None:
    seen: list[Any] = []
    refuse: set[str] = set()
    transport = stack.beta.BetaTransport(mixed(stack, seen, refuse), drop_rejected=True)
    client = stack.http.Client(transport=transport)
    request = client.build_request("POST", API, content=b"{}")
    with betas("old-1"):
        assert client.send(request).status_code == 200
    refuse.add("old-1")  # the API retires it
    with betas("new-1"):
        assert client.send(request).status_code == 200
    with betas("old-1", "new-1"):
        assert client.send(request).status_code == 200  # dropped: it was ours, not the caller's
    client.send(request)
    assert seen == ["old-1", "new-1", "old-1,new-1", "new-1", None]
    assert transport.rules.dropped == {"old-1"}


async def test_async_a_request_sent_again_after_a_drop_rejected_resend(stack: Stack) -> None:
    seen: list[Any] = []
    refuse = {"old-1"}

    async def handler(request: Any) -> Any:
        return mixed(stack, seen, refuse).handle_request(request)

    transport = stack.beta.AsyncBetaTransport(stack.http.MockTransport(handler), drop_rejected=True)
    async with stack.http.AsyncClient(transport=transport) as client:
        request = client.build_request("POST", API, content=b"{}")
        with betas("old-1", "new-1"):
            assert (await client.send(request)).status_code == 200
        await client.send(request)
    assert seen == ["old-1,new-1", "new-1", None]


@pytest.mark.parametrize("own", [None, "own-1"])
def test_a_hop_sharing_the_extensions_leaves_the_requests_record(stack: Stack, own: str | None) -> None:
    # httpx before 0.28 builds a redirect hop with the very dict of the request's
    # extensions (later releases copy it): what the hop records must not become the
    # request's, or a later send of the request takes the hop's names for the caller's.
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request.headers.get(HEADER))
        return stack.http.Response(200)

    transport = stack.beta.BetaTransport(stack.http.MockTransport(handler), hosts="api.anthropic.com")
    headers = {HEADER: own} if own else {}
    original = stack.http.Request("GET", API, headers=headers)
    with betas("a-1"):
        transport.handle_request(original)
        request = original
        for host in ("other.example", "api.anthropic.com", "other.example"):  # hops out, in, out
            hop = stack.http.Request("GET", f"https://{host}/", headers=request.headers)
            hop.extensions = request.extensions  # as httpx < 0.28 builds it, whatever this release does
            transport.handle_request(hop)
            request = hop
    with betas("b-1"):
        transport.handle_request(original)  # sent again: what the caller set, and b-1
    transport.handle_request(original)
    mine = f"{own},a-1" if own else "a-1"
    assert seen == [mine, own, mine, own, f"{own},b-1" if own else "b-1", own]


@pytest.mark.parametrize("own", [None, "own-1"])
@pytest.mark.parametrize("shape", CHAINS)
def test_real_chains_of_hops_in_and_out_of_the_hosts(
    stack: Stack, server: Server, shape: str, own: str | None
) -> None:
    inner = stack.http.HTTPTransport(
        proxy=stack.http.Proxy(server.proxy)
    )  # the server answers for every name
    transport = stack.beta.BetaTransport(
        inner, betas="fixed-1", hosts=["api.anthropic.com", "*.anthropic.com"]
    )
    headers = {} if own is None else {HEADER: own}
    with stack.http.Client(transport=transport, follow_redirects=True) as client:
        request = client.build_request("GET", server.chain_url(chain_hosts(shape)), headers=headers)
        with betas("ctx-1"):
            response = client.send(request)
        with betas("ctx-2"):
            client.send(request)  # the same request again: its chain again, with ctx-2
    assert response.status_code == 200
    assert len(response.history) == len(shape) - 1
    assert server.hops == expected_hops(shape, own, "fixed-1,ctx-1") + expected_hops(
        shape, own, "fixed-1,ctx-2"
    )


@pytest.mark.parametrize("own", [None, "own-1"])
@pytest.mark.parametrize("shape", ["ioo", "oio", "ioio", "iooi"])
async def test_async_real_chains_of_hops(stack: Stack, server: Server, shape: str, own: str | None) -> None:
    inner = stack.http.AsyncHTTPTransport(proxy=stack.http.Proxy(server.proxy))
    transport = stack.beta.AsyncBetaTransport(inner, hosts=["api.anthropic.com", "eu.anthropic.com"])
    headers = {} if own is None else {HEADER: own}
    async with stack.http.AsyncClient(transport=transport, follow_redirects=True) as client:
        with betas("ctx-1"):
            await client.get(server.chain_url(chain_hosts(shape), code=307), headers=headers)
    assert server.hops == expected_hops(shape, own, "ctx-1")


@pytest.mark.parametrize("own", [None, "own-1"])
def test_real_chain_through_the_servers_own_names(stack: Stack, server: Server, own: str | None) -> None:
    # No proxy: 127.0.0.1 is in the hosts, localhost is not; in, out, out, in, out.
    here, there = f"127.0.0.1:{server.port}", f"localhost:{server.port}"
    transport = stack.beta.BetaTransport(hosts="127.0.0.1")
    headers = {} if own is None else {HEADER: own}
    with stack.http.Client(transport=transport, follow_redirects=True) as client, betas("ctx-1"):
        client.get(server.chain_url([here, there, there, here, there]), headers=headers)
    merged = f"{own},ctx-1" if own else "ctx-1"
    assert server.hops == [
        ("127.0.0.1", merged),
        ("localhost", own),
        ("localhost", own),
        ("127.0.0.1", merged),
        ("localhost", own),
    ]


@given(
    shape=st.text(alphabet="io", min_size=1, max_size=7),
    own=st.sampled_from([None, "own-1", "fixed-1", "own-1,ctx-1"]),
    code=st.sampled_from([301, 302, 303, 307, 308]),
    scopes=st.lists(st.sampled_from([(), ("ctx-1",), ("ctx-2", "ctx-1")]), min_size=1, max_size=3),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_property_every_hop_of_every_send_carries_what_the_contract_says(
    stack: Stack, shape: str, own: str | None, code: int, scopes: list[tuple[str, ...]]
) -> None:
    hops: list[tuple[str, str | None]] = []

    def handler(request: Any) -> Any:
        hops.append((request.url.host, request.headers.get(HEADER)))
        rest = request.url.path.strip("/").split("/")[1:]
        if not rest:
            return stack.http.Response(200)
        return stack.http.Response(
            code, headers={"Location": f"https://{rest[0]}/chain/{'/'.join(rest[1:])}"}
        )

    transport = stack.beta.BetaTransport(
        stack.http.MockTransport(handler), betas="fixed-1", hosts=["api.anthropic.com", "*.anthropic.com"]
    )
    client = stack.http.Client(transport=transport, follow_redirects=True)
    hosts = chain_hosts(shape)
    request = client.build_request(
        "GET", f"https://{hosts[0]}/chain/{'/'.join(hosts[1:])}", headers=[(HEADER, own)] if own else []
    )
    expected: list[tuple[str, str | None]] = []
    for names in scopes:
        with betas(*names):
            client.send(request)
        merged = ",".join(dict.fromkeys(n for n in (*(own or "").split(","), "fixed-1", *names) if n))
        expected += [(host, merged if c == "i" else own) for host, c in zip(hosts, shape, strict=True)]
    assert hops == expected


# --- hosts= entries, internationalised names, and how logs name the integration -----------


@pytest.mark.parametrize(
    "bad",
    [
        "api.anthropic.com:443",
        "localhost:8000",
        "[::1]:80",
        "https://api.anthropic.com",
        "u@x.com",
        "",
        "a.*.com",
    ],
)
def test_a_host_entry_that_would_never_match_is_refused_by_every_entry_point(stack: Stack, bad: str) -> None:
    client = stack.http.Client()
    before = mounted(client)
    builds: list[Callable[[], object]] = [
        lambda: stack.beta.BetaTransport(hosts=["api.anthropic.com", bad]),
        lambda: stack.beta.AsyncBetaTransport(hosts=bad),
        lambda: stack.beta.instrument(client, hosts=[bad]),
    ]
    for build in builds:
        with pytest.raises(ValueError, match="invalid host") as info:
            build()
        assert repr(bad) in str(info.value)
    assert mounted(client)[0] is before[0]  # nothing half-done


IDN = ("b\u00fccher.example", "xn--bcher-kva.example")


@pytest.mark.parametrize("given", [*IDN, "*.b\u00fccher.example", "*.xn--bcher-kva.example"])
@pytest.mark.parametrize("url_host", IDN)
def test_internationalised_hosts_match_in_either_form(stack: Stack, given: str, url_host: str) -> None:
    seen: list[Any] = []
    transport = stack.beta.BetaTransport(stack.recording(seen), hosts=given)
    host = f"api.{url_host}" if given.startswith("*.") else url_host
    with betas("ctx-1"):
        stack.http.Client(transport=transport).get(f"https://{host}/v1")
        stack.http.Client(transport=transport).get("https://xn--bcher-kva.other/v1")
    assert [r.headers.get(HEADER) for r in seen] == ["ctx-1", None]


@pytest.mark.parametrize("given", IDN)
async def test_real_internationalised_host_through_the_server_as_proxy(
    stack: Stack, server: Server, given: str
) -> None:
    sync = stack.beta.BetaTransport(
        stack.http.HTTPTransport(proxy=stack.http.Proxy(server.proxy)), hosts=given
    )
    asyn = stack.beta.AsyncBetaTransport(
        stack.http.AsyncHTTPTransport(proxy=stack.http.Proxy(server.proxy)), hosts=[given]
    )
    with betas("ctx-1"):
        with stack.http.Client(transport=sync) as client:
            client.get("http://b\u00fccher.example/echo")
            client.get("http://xn--bcher-kva.example/echo")
            client.get("http://m\u00fcnchen.example/echo")
        async with stack.http.AsyncClient(transport=asyn) as aclient:
            await aclient.get("http://b\u00fccher.example/echo")
    assert server.hops == [
        ("xn--bcher-kva.example", "ctx-1"),
        ("xn--bcher-kva.example", "ctx-1"),
        ("xn--mnchen-3ya.example", None),
        ("xn--bcher-kva.example", "ctx-1"),
    ]


def test_a_dropped_beta_is_logged_naming_the_integration(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    transport = stack.beta.BetaTransport(
        mixed(stack, [], {"old-1"}), hosts="api.anthropic.com", drop_rejected=True
    )
    client = stack.beta.instrument(
        stack.http.Client(transport=mixed(stack, [], {"old-2"})), drop_rejected=True
    )
    with caplog.at_level("WARNING", logger="beta_middleware"), betas("old-1", "old-2"):
        stack.http.Client(transport=transport).post(API, content=b"{}")
        client.post(API, content=b"{}")
    assert [r.getMessage().rpartition(" of ")[2] for r in caplog.records] == [
        repr(transport),
        repr(mounted(client)[0]),
    ]
    assert "Rules(" not in caplog.text
    assert repr(transport).startswith("BetaTransport(<")
