"""`install()` / `uninstall()`: every client of the process, over real sockets and the real SDK."""

from __future__ import annotations

import asyncio
import importlib.machinery
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
import requests

import beta_middleware
from beta_middleware import HEADER, Installation, betas, install, uninstall
from beta_middleware._install import installation as install_module
from beta_middleware._install.requests import InstalledAdapter
from beta_middleware.anthropic import BetaMiddleware
from beta_middleware.requests import BetaAdapter

from .messages_server import MessagesServer
from .server import Server, chain_hosts, expected_hops
from .test_anthropic import ASK, BEDROCK, VERTEX, AsyncRecorder, Recorder, assert_sigv4_valid

LOCAL = "127.0.0.1"  # the installations below take it as their host; "localhost" is outside


@pytest.fixture(autouse=True)
def _uninstalled() -> Iterator[None]:
    """Every test starts and ends with nothing installed, whatever it did."""
    assert install_module.installed() is None
    try:
        yield
    finally:
        uninstall()


def patchable() -> list[type]:
    """Every class an installation may patch: each stack's clients, the SDK's, threads and pools."""
    import concurrent.futures
    import multiprocessing.pool

    classes = [httpx.Client, httpx.AsyncClient, httpx2.Client, httpx2.AsyncClient, requests.Session]
    classes += [*anthropic.Anthropic.__mro__, *anthropic.AsyncAnthropic.__mro__]
    classes += [
        threading.Thread,
        concurrent.futures.ThreadPoolExecutor,
        concurrent.futures.ProcessPoolExecutor,
    ]
    classes += [multiprocessing.pool.Pool]
    return [cls for cls in dict.fromkeys(classes) if cls is not object]


Snapshot = dict[type, dict[str, object]]


def snapshot() -> Snapshot:
    """What each class that an installation may patch holds itself: name -> object."""
    return {cls: dict(vars(cls)) for cls in patchable()}


def changed(before: Snapshot, after: Snapshot) -> dict[type, set[str]]:
    """The attributes, per class, that are not the very objects they were (added or gone too)."""
    found: dict[type, set[str]] = {}
    for cls, held in before.items():
        now = after[cls]
        names = {name for name in held.keys() | now.keys() if held.get(name, now) is not now.get(name, held)}
        if names:
            found[cls] = names
    return found


# httpx and httpx2: clients of every kind, built before and after


STACKS = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2")]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("when", ["before", "after"])
def test_httpx_clients_sync(server: Server, stack: Any, when: str) -> None:
    def clients() -> list[Any]:
        return [
            stack.Client(),
            stack.Client(transport=stack.HTTPTransport(retries=1)),
            stack.Client(mounts={"http://": stack.HTTPTransport()}),
        ]

    built = clients() if when == "before" else []
    with install(betas="f", hosts=LOCAL):
        built = built or clients()
        with betas("a"):
            for client in built:
                response = client.get(server.url_for("/echo"), headers={HEADER: "own"})
                assert response.json()[HEADER] == "own,f,a"
                assert response.request.headers[HEADER] == "own,f,a"
                assert client.get(server.url_for("/echo", "localhost")).json()[HEADER] is None
    for client in built:  # uninstalled: built while it was on, they carry nothing of it
        with betas("a"):
            assert client.get(server.url_for("/echo")).json()[HEADER] is None
        client.close()


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("when", ["before", "after"])
async def test_httpx_clients_async(server: Server, stack: Any, when: str) -> None:
    before = stack.AsyncClient() if when == "before" else None
    with install(hosts=LOCAL):
        client = before or stack.AsyncClient(mounts={"http://": stack.AsyncHTTPTransport()})
        async with betas("a"):
            assert (await client.get(server.url_for("/echo"))).json()[HEADER] == "a"
            async with client.stream("GET", server.url_for("/echo")) as response:
                assert json.loads(await response.aread())[HEADER] == "a"
    async with betas("a"):
        assert (await client.get(server.url_for("/echo"))).json()[HEADER] is None
    await client.aclose()


@pytest.mark.parametrize("kind", ["requests", "httpx", "httpx2", "httpx2-async"])
async def test_a_request_sent_again_starts_from_what_the_caller_set(server: Server, kind: str) -> None:
    # As with the explicit integrations: the same request object, sent in a scope, outside
    # any, then in another, carries that send's names only - and the caller's own value.
    url = server.url_for("/echo")
    scopes = (("a",), (), ("b",))

    def expected(own: str | None) -> list[str | None]:
        return [",".join(filter(None, (own, *scope))) or None for scope in scopes]

    with install(hosts=LOCAL):
        if kind == "requests":
            session = requests.Session()
            for own in (None, "own"):
                headers: dict[str, str | bytes] = {HEADER: own} if own else {}
                prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
                got = []
                for scope in scopes:
                    with betas(*scope):
                        got.append(session.send(prepared).json()[HEADER])
                assert got == expected(own)
            session.close()
            return
        stack = httpx if kind == "httpx" else httpx2
        client: Any = stack.AsyncClient() if kind.endswith("async") else stack.Client()
        for own in (None, "own"):
            request = client.build_request("GET", url, headers={HEADER: own} if own else {})
            got = []
            for scope in scopes:
                with betas(*scope):
                    response = client.send(request)
                    if kind.endswith("async"):
                        response = await response
                    got.append(response.json()[HEADER])
            assert got == expected(own)
        closed = client.aclose() if kind.endswith("async") else client.close()
        if closed is not None:
            await closed


@pytest.mark.parametrize("stack", STACKS)
def test_mock_transport_and_streaming(stack: Any) -> None:
    seen: list[str | None] = []

    def handler(request: Any) -> Any:
        seen.append(request.headers.get(HEADER))
        return stack.Response(200, content=b"x" * 100)

    client = stack.Client(transport=stack.MockTransport(handler))
    with install(hosts="api.anthropic.com"), betas("a"):
        with client.stream("GET", "https://api.anthropic.com/v1/x") as response:
            assert b"".join(response.iter_bytes()) == b"x" * 100
        client.get("https://example.com/")
    assert seen == ["a", None]
    client.close()


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("code", [302, 307])
def test_httpx_redirects_out_of_the_hosts_carry_only_the_callers_value(
    server: Server, stack: Any, code: int
) -> None:
    client = stack.Client(follow_redirects=True)
    target = server.url_for("/echo", "localhost")
    with install(hosts=LOCAL), betas("a"):
        response = client.get(server.url_for(f"/redirect?code={code}&to={target}"), headers={HEADER: "own"})
        assert response.json()[HEADER] == "own"
        back = server.url_for("/echo")
        inward = client.get(server.url_for(f"/redirect?code={code}&to={back}", "localhost"))
        assert inward.json()[HEADER] == "a"  # a hop into the hosts gets them
    assert [r.beta for r in server.received] == ["own,a", "own", None, "a"]
    client.close()


CHAIN_HOSTS = ["api.anthropic.com", "*.anthropic.com"]  # `i` in the chains of `.server`


@pytest.mark.parametrize("own", [None, "own-1"])
@pytest.mark.parametrize("shape", ["ioo", "oio", "ioio", "oiooi", "iiooii", "ooo"])
@pytest.mark.parametrize("kind", ["requests", "httpx", "httpx2", "httpx-async", "httpx2-async"])
async def test_chains_of_hops_in_and_out_of_the_hosts(
    server: Server, kind: str, shape: str, own: str | None
) -> None:
    # Each hop gets the betas inside the hosts and what the caller set outside them; the
    # same request object sent again runs its chain again with that send's names.
    headers = {} if own is None else {HEADER: own}
    url = server.chain_url(chain_hosts(shape), code=307)
    with install(hosts=CHAIN_HOSTS):
        if kind == "requests":
            session = requests.Session()
            session.proxies = {"http": server.proxy}  # the server answers for every name
            prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
            for scope in ("ctx-1", "ctx-2"):
                with betas(scope):
                    assert session.send(prepared).status_code == 200
            session.close()
        else:
            stack = httpx2 if kind.startswith("httpx2") else httpx
            if kind.endswith("async"):
                proxied: Any = stack.AsyncHTTPTransport(proxy=stack.Proxy(server.proxy))
                client: Any = stack.AsyncClient(transport=proxied, follow_redirects=True)
                request = client.build_request("GET", url, headers=headers)
                for scope in ("ctx-1", "ctx-2"):
                    with betas(scope):
                        assert (await client.send(request)).status_code == 200
                await client.aclose()
            else:
                proxied = stack.HTTPTransport(proxy=stack.Proxy(server.proxy))
                client = stack.Client(transport=proxied, follow_redirects=True)
                request = client.build_request("GET", url, headers=headers)
                for scope in ("ctx-1", "ctx-2"):
                    with betas(scope):
                        assert client.send(request).status_code == 200
                client.close()
    assert server.hops == expected_hops(shape, own, "ctx-1") + expected_hops(shape, own, "ctx-2")


@pytest.mark.parametrize("own", [None, "own-1"])
@pytest.mark.parametrize("kind", ["requests", "httpx", "httpx2", "httpx2-async"])
async def test_a_request_sent_again_to_a_host_outside_carries_only_the_callers_value(
    server: Server, kind: str, own: str | None
) -> None:
    # The request object that was given betas inside the hosts, its URL changed to a host
    # outside them, then sent again.
    headers = {} if own is None else {HEADER: own}
    inside, outside = server.url_for("/echo"), server.url_for("/echo", "localhost")
    with install(hosts=LOCAL), betas("a"):
        if kind == "requests":
            session = requests.Session()
            prepared = session.prepare_request(requests.Request("GET", inside, headers=headers))
            first = session.send(prepared).json()[HEADER]
            prepared.prepare_url(outside, None)
            again = session.send(prepared).json()[HEADER]
            session.close()
        else:
            stack = httpx2 if kind.startswith("httpx2") else httpx
            client: Any = stack.AsyncClient() if kind.endswith("async") else stack.Client()
            request = client.build_request("GET", inside, headers=headers)
            sends = []
            for url in (inside, outside):
                request.url = stack.URL(url)
                response = client.send(request)
                if kind.endswith("async"):
                    response = await response
                sends.append(response.json()[HEADER])
            first, again = sends
            closed = client.aclose() if kind.endswith("async") else client.close()
            if closed is not None:
                await closed
    assert (first, again) == (f"{own},a" if own else "a", own)


@pytest.mark.parametrize("stack", STACKS)
def test_proxies_from_the_environment(server: Server, stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # the loopback server serves as the proxy: it gets the absolute URL and echoes
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = stack.Client()  # a proxy transport mounted for http:// from the environment
    session = requests.Session()
    with install(), betas("a"):
        assert client.get("http://api.anthropic.com/echo").json()[HEADER] == "a"
        assert client.get("http://example.com/echo").json()[HEADER] is None
        assert session.get("http://api.anthropic.com/echo").json()[HEADER] == "a"
    assert [r.host for r in server.received] == ["api.anthropic.com", "example.com", "api.anthropic.com"]
    client.close()
    session.close()


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_each_hop_takes_the_transport_the_clients_mounts_say(stack: Any, asynchronous: bool) -> None:
    # The patch picks a hop's transport itself, as the stack does: the first mount whose
    # pattern matches (one of None: the client's own transport), else the client's own.
    def transport(name: str) -> Any:
        def handler(request: Any) -> Any:
            return stack.Response(200, json={"by": name, HEADER: request.headers.get(HEADER)})

        return stack.MockTransport(handler)  # serves sync and async clients alike

    mounts = {
        "all://mounted.example": transport("mount"),
        "all://*.mounted.example": transport("subdomain mount"),
        "all://own.example": None,
        "https://": transport("https mount"),
    }
    urls = (
        "http://mounted.example/",
        "http://api.mounted.example/",
        "http://own.example/",
        "https://own.example/",  # the first match wins: own.example's None, before https://
        "https://elsewhere.example/",
        "http://elsewhere.example/",
    )
    with install(hosts=None), betas("a"):
        if asynchronous:

            async def send() -> list[Any]:
                async with stack.AsyncClient(mounts=mounts, transport=transport("client's own")) as client:
                    return [(await client.get(url)).json() for url in urls]

            got = asyncio.run(send())
        else:
            with stack.Client(mounts=mounts, transport=transport("client's own")) as client:
                got = [client.get(url).json() for url in urls]
    assert got == [
        {"by": by, HEADER: "a"}
        for by in ("mount", "subdomain mount", "client's own", "client's own", "https mount", "client's own")
    ]


def test_hosts_default_is_the_api_and_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    assert install_module.default_hosts() == ("api.anthropic.com",)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://Proxy.Example:8080/anthropic")
    assert install_module.default_hosts() == ("api.anthropic.com", "proxy.example")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://[::1")  # malformed: the SDK refuses it itself
    assert install_module.default_hosts() == ("api.anthropic.com",)
    with install() as installation:
        assert installation.hosts == ("api.anthropic.com",)


def test_every_host_with_hosts_none(server: Server) -> None:
    with install(hosts=None), betas("a"):
        assert httpx2.get(server.url_for("/echo", "localhost")).json()[HEADER] == "a"
        assert requests.get(server.url_for("/echo", "localhost")).json()[HEADER] == "a"


# requests


@pytest.mark.parametrize("when", ["before", "after"])
def test_requests_sessions(server: Server, when: str) -> None:
    before = requests.Session() if when == "before" else None
    with install(betas="f", hosts=LOCAL):
        session = before or requests.Session()
        with betas("a"):
            assert session.get(server.url_for("/echo"), headers={HEADER: "own"}).json()[HEADER] == "own,f,a"
            assert session.get(server.url_for("/echo", "localhost")).json()[HEADER] is None
            with session.get(server.url_for("/stream"), stream=True) as response:
                server.release.set()
                assert b"".join(response.iter_content(None))
            assert requests.get(server.url_for("/echo")).json()[HEADER] == "f,a"
            # what code reads from the session's adapter is the mounted adapter's
            adapter: Any = session.get_adapter("http://x")
            assert adapter.max_retries is session.adapters["http://"].max_retries  # type: ignore[attr-defined]
            assert repr(session.get_adapter(server.url_for("/"))).startswith("InstalledAdapter(")
            assert repr(session.get_adapter("http://x")).startswith("OutsideAdapter(")  # not in hosts
            session.get_adapter("http://x").close()  # closes the mounted adapter's pools
            assert not session.adapters["http://"].poolmanager.pools.keys()  # type: ignore[attr-defined]
            unset = object.__new__(InstalledAdapter)  # as copy and pickle make it: no recursion
            with pytest.raises(AttributeError):
                unset.max_retries  # noqa: B018
    with betas("a"):
        assert session.get(server.url_for("/echo")).json()[HEADER] is None
    session.close()


def test_requests_redirects_out_of_the_hosts(server: Server) -> None:
    target = server.url_for("/echo", "localhost")
    with install(hosts=LOCAL), betas("a"):
        response = requests.get(server.url_for(f"/redirect?to={target}"), headers={HEADER: "own"})
        assert response.json()[HEADER] == "own"
        assert response.history[0].request.headers[HEADER] == "own,a"
    assert [r.beta for r in server.received] == ["own,a", "own"]


@pytest.mark.parametrize("drop_rejected", [False, True])
def test_requests_with_an_adapter_taking_keywords_only(server: Server, drop_rejected: bool) -> None:
    # requests calls `adapter.send(request, **kwargs)`; adapters and test doubles
    # (requests-mock's, older responses') take the options by keyword only.
    seen: list[dict[str, Any]] = []

    class KeywordsOnly(requests.adapters.HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            seen.append(kwargs)
            return super().send(request, **kwargs)

    session = requests.Session()
    session.mount("http://", KeywordsOnly())
    with install(hosts=LOCAL, drop_rejected=drop_rejected):
        assert session.get(server.url_for("/echo"), timeout=7).json()[HEADER] is None  # nothing active
        with betas("a", "r"):
            assert session.get(server.url_for("/echo"), timeout=7).json()[HEADER] == "a,r"
            response = session.get(server.url_for("/reject/unsupported?betas=r"), timeout=7)
    assert response.status_code == (200 if drop_rejected else 400)
    assert [r.beta for r in server.received] == [None, "a,r", "a,r", *(["a"] if drop_rejected else [])]
    assert len(seen) == (4 if drop_rejected else 3)
    assert all(kwargs["timeout"] == 7 and kwargs["proxies"] == {} for kwargs in seen)
    session.close()


def test_requests_with_an_adapter_taking_no_weak_reference(server: Server) -> None:
    class Slotted:  # requests takes any object with send() and close()
        __slots__ = ("inner",)

        def __init__(self) -> None:
            self.inner = requests.adapters.HTTPAdapter()

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            return self.inner.send(request, *args, **kwargs)

        def close(self) -> None:
            self.inner.close()

    session = requests.Session()
    session.mount("http://", Slotted())  # type: ignore[arg-type]
    with install(hosts=LOCAL), betas("a"):
        assert session.get(server.url_for("/echo")).json()[HEADER] == "a"
        assert session.get(server.url_for("/echo")).json()[HEADER] == "a"
    session.close()


def test_httpx_with_a_transport_taking_no_weak_reference(server: Server) -> None:
    class Slotted:  # httpx takes any object with handle_request() and close()
        __slots__ = ("inner",)

        def __init__(self) -> None:
            self.inner = httpx2.HTTPTransport()

        def close(self) -> None:
            self.inner.close()

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            return self.inner.handle_request(request)

    client = httpx2.Client(transport=Slotted())  # type: ignore[arg-type]
    with install(hosts=LOCAL), betas("a"):
        assert client.get(server.url_for("/echo")).json()[HEADER] == "a"
        assert client.get(server.url_for("/echo")).json()[HEADER] == "a"
    client.close()


class Unhashable:
    """A transport and an adapter that cannot be a dict key (it defines `__eq__` alone)."""

    def __init__(self) -> None:
        self.transport = httpx2.HTTPTransport()
        self.adapter = requests.adapters.HTTPAdapter()

    def __eq__(self, other: object) -> bool:
        return other is self

    __hash__ = None  # type: ignore[assignment]

    def close(self) -> None:
        self.transport.close()
        self.adapter.close()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.transport.handle_request(request)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        return self.adapter.send(request, **kwargs)


def test_a_transport_or_adapter_that_cannot_be_a_dict_key(server: Server) -> None:
    # its wrapper is made per hop: every hop still gets the betas, and only inside the hosts
    client = httpx2.Client(transport=Unhashable())  # type: ignore[arg-type]
    session = requests.Session()
    session.mount("http://", Unhashable())  # type: ignore[arg-type]
    with install(hosts=LOCAL), betas("a"):
        for _ in range(2):
            assert client.get(server.url_for("/echo")).json()[HEADER] == "a"
            assert client.get(server.url_for("/echo", "localhost")).json()[HEADER] is None
            assert session.get(server.url_for("/echo")).json()[HEADER] == "a"
            assert session.get(server.url_for("/echo", "localhost")).json()[HEADER] is None
    client.close()
    session.close()


def test_nothing_is_stored_on_clients_and_sessions(server: Server) -> None:
    # setting an attribute on an instance after it is built makes CPython give it a dict of
    # its own, which slows every later attribute read on it: a client's, in all its code
    client, session = httpx2.Client(), requests.Session()
    before = (set(vars(client)), set(vars(session)))
    with install(hosts=LOCAL), betas("a"):
        for url in (server.url_for("/echo"), server.url_for("/echo", "localhost")):
            client.get(url)
            session.get(url)
        assert (set(vars(client)), set(vars(session))) == before
    client.close()
    session.close()


@pytest.mark.parametrize("own", [None, "own"])
def test_a_send_that_raises_through_two_layers_leaves_what_the_caller_set(
    server: Server, own: str | None
) -> None:
    # The installation over a mounted BetaAdapter, the connection refused: each layer puts
    # back what it found, and the request sent again starts from the caller's value.
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = requests.Session()
    session.mount("http://", BetaAdapter(betas="e", max_retries=0))
    headers: dict[str, str | bytes] = {HEADER: own} if own else {}
    with install(betas="i", hosts=LOCAL):
        refused = session.prepare_request(
            requests.Request("GET", f"http://127.0.0.1:{port}/", headers=headers)
        )
        with betas("a"), pytest.raises(requests.ConnectionError):
            session.send(refused)
        assert refused.headers.get(HEADER) == own
        refused.url = server.url_for("/echo")  # the same request object, now to a server
        with betas("b"):
            assert session.send(refused).json()[HEADER] == ",".join(filter(None, (own, "i", "b", "e")))
    session.close()


# the anthropic SDK: every client class, before and after


def sdk_client(kind: str, url: str) -> Any:
    cls = {"sync": anthropic.Anthropic, "async": anthropic.AsyncAnthropic}[kind]
    return cls(api_key="test-key", base_url=url, max_retries=0)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("when", ["before", "after"])
async def test_sdk_clients(messages_api: MessagesServer, kind: str, when: str) -> None:
    async def ask(client: Any, **options: Any) -> str:
        result = client.messages.create(**ASK, **options)
        if kind == "async":
            result = await result
        text: str = result.content[0].text
        return text

    before = sdk_client(kind, messages_api.url) if when == "before" else None
    # the SDK always gets betas, whatever hosts say: its base URL is the choice
    with install(betas="f", hosts="api.anthropic.com"):
        client = before or sdk_client(kind, messages_api.url)
        with betas("a"):
            assert await ask(client) == "f,a"
            assert await ask(client, extra_headers={HEADER: "own"}) == "own,f,a"
        assert await ask(client.with_options(timeout=5)) == "f"
        assert client.middleware == ()  # the public view shows the client's own
    with betas("a"):
        assert await ask(client) == "(none)"
        assert await ask(client.with_options(timeout=5)) == "(none)"
    closed = client.close()
    if kind == "async":
        await closed


async def test_sdk_on_its_aiohttp_client(messages_api: MessagesServer, server: Server) -> None:
    # an httpx2 AsyncClient whose transport is aiohttp's: patched like any
    http_client = anthropic.DefaultAioHttpClient()
    client = anthropic.AsyncAnthropic(api_key="k", base_url=messages_api.url, http_client=http_client)
    with install(hosts=LOCAL):
        async with betas("a"):
            assert (await client.messages.create(**ASK)).content[0].text == "a"
            assert (await http_client.get(server.url_for("/echo"))).json()[HEADER] == "a"
    await client.close()


def test_sdk_client_with_its_own_middleware(messages_api: MessagesServer) -> None:
    order: list[str] = []

    def mine(request: Any, call_next: Any) -> Any:
        order.append(str(request.headers.get(HEADER)))
        return call_next(request)

    client = anthropic.Anthropic(api_key="k", base_url=messages_api.url, middleware=[mine])
    with install(), betas("a"):
        assert client.messages.create(**ASK).content[0].text == "a"
        copied = client.with_middleware(BetaMiddleware(betas="m"))
        assert copied.messages.create(**ASK).content[0].text == "a,m"
        assert len(copied.middleware) == 2
    client.close()
    assert order == ["a", "a"]  # the installation's middleware runs first, then the client's


def test_sdk_streaming(messages_api: MessagesServer) -> None:
    client = anthropic.Anthropic(api_key="k", base_url=messages_api.url)
    with install(), betas("a"), client.messages.stream(**ASK) as stream:
        assert stream.get_final_text() == "a"
    assert messages_api.betas == ["a"]
    client.close()


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("when", ["before", "after"])
def test_bedrock_betas_in_the_signed_body(when: str) -> None:
    recorder = Recorder()

    def client() -> Any:
        return anthropic.AnthropicBedrock(
            **BEDROCK, http_client=httpx2.Client(transport=httpx2.MockTransport(recorder))
        )

    before = client() if when == "before" else None
    with install(betas="f"):
        bedrock = before or client()
        with betas("a"):
            bedrock.beta.messages.create(**ASK, betas=["x"])
    bedrock.messages.create(**ASK)
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert [b.get("anthropic_beta") for b in bodies] == [["x", "f", "a"], None]
    for request in recorder.requests:
        assert_sigv4_valid(request)


@pytest.mark.usefixtures("aws_env")
async def test_bedrock_async_and_vertex() -> None:
    recorder, vertex_recorder = AsyncRecorder(), Recorder()
    bedrock = anthropic.AsyncAnthropicBedrock(
        **BEDROCK, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(recorder.handle))
    )
    vertex = anthropic.AnthropicVertex(
        **VERTEX, http_client=httpx2.Client(transport=httpx2.MockTransport(vertex_recorder))
    )
    with install():
        async with betas("a"):
            await bedrock.messages.create(**ASK)
            vertex.messages.create(**ASK)
    assert json.loads(recorder.requests[0].content)["anthropic_beta"] == ["a"]
    assert_sigv4_valid(recorder.requests[0])
    assert vertex_recorder.sent == ["a"]


def test_sdk_over_an_installed_httpx2_sends_each_name_once(messages_api: MessagesServer) -> None:
    # the SDK's middleware and the httpx2 patch both apply to this request (hosts=None)
    http_client = httpx2.Client(transport=beta_middleware_httpx2().BetaTransport(betas="t"))
    client = anthropic.Anthropic(api_key="k", base_url=messages_api.url, http_client=http_client)
    with install(betas="f", hosts=None), betas("a"):
        assert client.beta.messages.create(**ASK, betas=["x", "a"]).content[0].text == "x,a,f,t"
    client.close()


async def test_an_sdk_call_leaves_no_owner_behind_whether_it_returns_raises_or_is_cancelled(
    messages_api: MessagesServer,
) -> None:
    # while an SDK call is under way its middleware owns the request (`Below`); once it
    # ends, however it ends, a plain httpx2 request of the same context is its own again
    from beta_middleware._core.header import below

    sync = anthropic.Anthropic(api_key="k", base_url=messages_api.url, max_retries=0)
    client = anthropic.AsyncAnthropic(api_key="k", base_url=messages_api.url, max_retries=0)
    seen: list[object] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(below.get())
        return httpx2.Response(500, json={"type": "error", "error": {"type": "api_error", "message": "x"}})

    failing = anthropic.Anthropic(
        api_key="k", max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(handler))
    )
    started = asyncio.Event()

    async def hang(request: httpx2.Request) -> httpx2.Response:
        started.set()
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("not reached")  # pragma: no cover

    hanging = anthropic.AsyncAnthropic(
        api_key="k", max_retries=0, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(hang))
    )
    plain = httpx2.Client()
    with install(hosts=None), betas("a"):
        assert sync.messages.create(**ASK).content
        assert (await client.messages.create(**ASK)).content
        with pytest.raises(anthropic.InternalServerError):
            failing.messages.create(**ASK)
        task = asyncio.ensure_future(hanging.messages.create(**ASK))
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert below.get() is None
        assert plain.get(messages_api.url + "/v1/messages/echo").request.headers[HEADER] == "a"
    assert len(seen) == 1
    assert seen[0] is not None
    sync.close()
    failing.close()
    plain.close()
    await client.close()
    await hanging.close()


def beta_middleware_httpx2() -> Any:
    from beta_middleware import httpx2 as integration

    return integration


# drop_rejected through two layers: each name once, resent at most once


def test_drop_rejected_through_an_explicit_transport_under_the_installation(server: Server) -> None:
    explicit = beta_middleware_httpx2().BetaTransport(betas="e", drop_rejected=True)
    client = httpx2.Client(transport=explicit)
    with install(betas="f", hosts=LOCAL, drop_rejected=True), betas("a"):
        response = client.post(server.url_for("/reject/unexpected?betas=f,a,e"), content=b"body")
    assert response.status_code == 200  # every name rejected, then resent once without them
    assert [r.beta for r in server.received] == ["f,a,e", None]
    client.close()


def test_drop_rejected_through_an_explicit_adapter_under_the_installation(server: Server) -> None:
    session = requests.Session()
    session.mount("http://", BetaAdapter(betas="e", drop_rejected=True))
    with install(betas="f", hosts=LOCAL, drop_rejected=True), betas("a"):
        response = session.post(server.url_for("/reject/unexpected?betas=f,a,e"), data=b"body")
    assert response.status_code == 200
    assert [r.beta for r in server.received] == ["f,a,e", None]
    with install(betas="f", hosts=LOCAL, drop_rejected=True):
        response = session.post(server.url_for("/reject/unsupported?betas=f"), data=b"body")
    assert response.status_code == 200
    assert [r.beta for r in server.received][2:] == ["f", None]  # `e` was dropped above
    session.close()


def test_drop_rejected_through_the_sdk_over_an_explicit_transport(server: Server) -> None:
    explicit = beta_middleware_httpx2().BetaTransport(betas="e", drop_rejected=True)
    client = anthropic.Anthropic(
        api_key="k",
        base_url=server.url_for("/reject/unexpected"),
        http_client=httpx2.Client(transport=explicit),
        max_retries=0,
    )
    with install(betas="f", hosts=None, drop_rejected=True):
        response = client.messages.with_raw_response.create(**ASK, extra_query={"betas": "f"})
    # the SDK's layer resent without its `f`; the transport under it left `e` (not
    # rejected) as it was, and the installation's httpx2 patch stood aside for the SDK
    assert response.http_response.json()[HEADER] == "e"
    assert [r.beta for r in server.received] == ["f,e", "e"]
    client.close()


def test_a_name_the_owner_left_off_is_not_put_back_by_a_layer_below(server: Server) -> None:
    # the SDK's installed layer owns the request and resends without the context's `a`;
    # the explicit transport under it adds only its own names, so `a` stays off
    explicit = beta_middleware_httpx2().BetaTransport(drop_rejected=True)
    client = anthropic.Anthropic(
        api_key="k",
        base_url=server.url_for("/reject/unexpected"),
        http_client=httpx2.Client(transport=explicit),
        max_retries=0,
    )
    with install(hosts=None, drop_rejected=True), betas("a"):
        response = client.messages.with_raw_response.create(**ASK, extra_query={"betas": "a"})
    assert response.http_response.status_code == 200
    assert [r.beta for r in server.received] == ["a", None]
    client.close()


# uninstall: the process as if never installed


def test_uninstall_restores_every_patched_attribute() -> None:
    before, finders = snapshot(), list(sys.meta_path)  # imports what threads= and processes= patch
    installation = install(threads=True, processes=True)
    patched = changed(before, snapshot())
    # each stack's client classes, the SDK's, threads and both kinds of pool
    for cls in (httpx.Client, httpx.AsyncClient, httpx2.Client, httpx2.AsyncClient, requests.Session):
        assert cls in patched
    assert set(anthropic.Anthropic.__mro__) & set(patched)
    assert set(anthropic.AsyncAnthropic.__mro__) & set(patched)
    assert threading.Thread in patched
    assert len(patched) >= 12
    installation.uninstall()
    assert changed(before, snapshot()) == {}
    assert sys.meta_path == finders
    installation.uninstall()  # again: nothing to do
    uninstall()  # nothing installed: nothing to do


def test_install_again() -> None:
    installation = install(betas=["f"], hosts=["API.anthropic.com"])
    assert install(betas="f", hosts="api.anthropic.com") is installation
    with pytest.raises(ValueError, match=r"Installation\(betas=\['f'\].*Installation\(betas=\['g'\]"):
        install(betas="g")
    assert repr(installation) == (
        "Installation(betas=['f'], hosts=['api.anthropic.com'], drop_rejected=False, threads=False, "
        "processes=False)"
    )
    installation.uninstall()
    assert install(betas="g") is not installation


def test_a_second_call_says_where_the_first_was() -> None:
    install(betas="f")
    line = sys._getframe().f_lineno - 1
    with pytest.raises(ValueError, match="already installed") as info:
        install(betas="g")
    message = str(info.value)
    assert f"made by install() at {__file__}:{line};" in message
    assert f"too, by install() at {__file__}:{line + 3}: call install() once" in message


# under `run` (or its variables): the program's own install() joins the start-up installation


def test_the_programs_install_joins_the_start_up_installation(server: Server) -> None:
    before = snapshot()
    started = install_module.start_up(betas="files-api-2025-04-14")
    assert started.origins == [install_module.STARTUP]
    joined = install(betas=["context-1m-2025-08-07", "files-api-2025-04-14"], hosts=[LOCAL], threads=True)
    assert joined is started
    assert repr(joined) == (
        "Installation(betas=['files-api-2025-04-14', 'context-1m-2025-08-07'], "
        f"hosts=['api.anthropic.com', '{LOCAL}'], drop_rejected=False, threads=True, processes=False)"
    )
    assert joined.origins[1] == f"by install() at {__file__}:{sys._getframe().f_lineno - 6}"
    # either call again, as it was made: the same installation
    assert (
        install(betas=["context-1m-2025-08-07", "files-api-2025-04-14"], hosts=[LOCAL], threads=True)
        is joined
    )
    assert install_module.start_up(betas="files-api-2025-04-14") is joined
    # the patches are made anew: the union is what is sent, threads carry the scope
    with httpx.Client() as client, betas("interleaved-thinking-2025-05-14"):
        box: list[str] = []
        worker = threading.Thread(
            target=lambda: box.append(client.get(server.url_for("/echo")).json()[HEADER])
        )
        worker.start()
        worker.join()
    assert box == ["files-api-2025-04-14,context-1m-2025-08-07,interleaved-thinking-2025-05-14"]
    # a third call with other settings is refused, naming both that made it
    with pytest.raises(ValueError, match="already installed") as info:
        install(betas="g")
    assert f"made {install_module.STARTUP} and joined by install() at {__file__}:" in str(info.value)
    joined.uninstall()  # all of it
    assert install_module.installed() is None
    assert changed(before, snapshot()) == {}


def test_the_union_of_every_host_and_some_is_every_host() -> None:
    install_module.start_up(hosts=None)
    assert install(betas="a-1", hosts=[LOCAL], drop_rejected=True).hosts is None
    assert install_module.installed() is not None
    assert install_module.installed().drop_rejected is True  # type: ignore[union-attr]


def test_a_start_up_installation_joins_one_made_in_code_first() -> None:
    made = install(betas="a-1", hosts=[LOCAL])
    assert install_module.start_up(betas="b-2", drop_rejected=True) is made
    assert (made.betas, made.hosts, made.drop_rejected) == (
        ("a-1", "b-2"),
        (LOCAL, "api.anthropic.com"),
        True,
    )


def test_two_calls_in_code_are_never_joined() -> None:
    install(betas="a-1")
    with pytest.raises(ValueError, match="uninstall"):
        install(betas="b-2")


# anthropic before 0.108 (no middleware option): covered through httpx, for the hosts only

OLD_SDK = {
    "__init__.py": """
__version__ = "0.93.0"
from ._base_client import BaseClient

class Anthropic(BaseClient):
    def __init__(self, *, base_url="https://api.anthropic.com"):
        super().__init__(base_url=base_url)
""",
    "_base_client.py": """
import httpx

class BaseClient:
    def __init__(self, *, base_url):
        self._base_url = httpx.URL(base_url)

    @property
    def base_url(self):
        return self._base_url
""",
}


def test_an_old_sdks_client_outside_the_hosts_warns_once_per_host(tmp_path: Any) -> None:
    package = tmp_path / "anthropic"
    package.mkdir()
    for name, text in OLD_SDK.items():
        (package / name).write_text(text)
    code = """
import warnings
import beta_middleware
from anthropic._base_client import BaseClient
init = BaseClient.__init__
installation = beta_middleware.install(betas="files-api-2025-04-14")
import anthropic
anthropic.Anthropic()  # the default base URL: in the default hosts
anthropic.Anthropic(base_url="http://127.0.0.1:9/")
anthropic.Anthropic(base_url="http://127.0.0.1:9/v1")  # the same host: warned already
anthropic.Anthropic(base_url="http://localhost:9/")
anthropic.Anthropic(base_url="/relative")  # no host: nothing to tell

class Odd(anthropic.Anthropic):
    base_url = property(lambda self: 1 / 0)
Odd()  # a client of another shape: nothing to tell either
installation.uninstall()
print(BaseClient.__init__ is init)
with beta_middleware.install(hosts=None):  # every host: nothing to warn about
    anthropic.Anthropic(base_url="http://10.0.0.1:9/")
"""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "BETA_MIDDLEWARE"))}
    environ["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    done = subprocess.run(
        [sys.executable, "-W", "always::RuntimeWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"
    warned = [line for line in done.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 2, done.stderr
    for line, host in zip(warned, ["127.0.0.1", "localhost"], strict=True):
        assert line.startswith("<string>:")  # the line that built the client
        assert (
            "RuntimeWarning: anthropic 0.93.0 has no middleware option (0.108 added it): "
            "beta_middleware.install() reaches its clients through httpx, for the installation's hosts "
            f"only, and this client's base URL is on {host!r}, outside hosts=['api.anthropic.com'], so "
            f"its requests get no betas. Add the host (install(hosts=[..., {host!r}]), run --hosts or "
            "BETA_MIDDLEWARE_HOSTS), or upgrade the SDK: pip install 'anthropic>=0.108'"
        ) in line


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"betas": "a b"}, beta_middleware.InvalidBetaError),
        ({"betas": ["ok", 5]}, beta_middleware.InvalidBetaError),
        ({"hosts": "https://api.anthropic.com"}, ValueError),
        ({"hosts": ["ok.example", "a:1/"]}, ValueError),
        ({"threads": "yes"}, TypeError),
        ({"processes": 1}, TypeError),
    ],
)
def test_bad_settings_raise_before_anything_is_patched(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    before, finders = snapshot(), list(sys.meta_path)
    with pytest.raises(error):
        install(**kwargs)
    assert changed(before, snapshot()) == {}
    assert sys.meta_path == finders
    assert install_module.installed() is None


def run_python(code: str, **env: str) -> str:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "COV_CORE", "BETA_MIDDLEWARE"))
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**environ, **env}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_install_in_a_fresh_interpreter_loads_nothing_and_patches_on_import() -> None:
    out = run_python(
        """
import sys
import beta_middleware
installation = beta_middleware.install(betas="files-api-2025-04-14", hosts=None, threads=True)
stacks = ("requests", "httpx", "httpx2", "anthropic")
print([name for name in stacks if name in sys.modules])
import concurrent.futures, requests, httpx, httpx2, anthropic
from requests.adapters import BaseAdapter

seen = []

class Recorder(BaseAdapter):
    def send(self, request, **kwargs):
        seen.append(request.headers.get("anthropic-beta"))
        response = requests.Response()
        response.status_code = 200
        return response

def recording(stack):
    def handler(request):
        seen.append(request.headers.get("anthropic-beta"))
        return stack.Response(200, json={})

    return stack.MockTransport(handler)

def send_through_each():
    session = requests.Session()
    session.mount("http://", Recorder())
    session.get("http://api.example/")
    httpx.Client(transport=recording(httpx)).get("http://api.example/")
    httpx2.Client(transport=recording(httpx2)).get("http://api.example/")
    sdk = anthropic.Anthropic(api_key="k", http_client=httpx2.Client(transport=recording(httpx2)))
    sdk.post("/v1/x", cast_to=httpx2.Response, body={})
    with concurrent.futures.ThreadPoolExecutor() as pool:
        seen.append(pool.submit(beta_middleware.current_betas).result())
    print(seen)
    seen.clear()

with beta_middleware.betas("ctx-2025-01-01"):
    send_through_each()
    installation.uninstall()
    send_through_each()
print(anthropic.__spec__.loader.__class__.__name__, anthropic.__loader__ is anthropic.__spec__.loader)
print([type(f).__module__ for f in sys.meta_path if type(f).__module__.startswith("beta_middleware")])
"""
    )
    lines = out.splitlines()
    assert lines[0] == "[]"  # its cost is measured by the benchmark (`install` in a fresh process)
    both = "files-api-2025-04-14,ctx-2025-01-01"
    assert lines[1] == str([both] * 4 + [("ctx-2025-01-01",)])  # each stack, and a pool's job
    assert lines[2] == str([None] * 4 + [()])  # uninstalled: as if never installed
    assert lines[3] == "SourceFileLoader True"  # the module keeps its own loader
    assert lines[4] == "[]"  # no finder of the installation is left


def test_a_stack_never_imported_is_never_loaded() -> None:
    out = run_python(
        """
import sys, beta_middleware
with beta_middleware.install():
    import json
loaded = ("requests", "httpx", "httpx2", "anthropic", "beta_middleware.httpx")
print(sorted(m for m in loaded if m in sys.modules))
"""
    )
    assert out.strip() == "[]"


def test_a_patch_that_fails_warns_and_leaves_the_import_working(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(install_module._PATCHERS, "json", "beta_middleware._no_such_module")
    with pytest.warns(RuntimeWarning, match=r"could not patch 'json'"), install():
        pass


def test_the_finder_hands_other_modules_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert repr(install_module.DEFAULT) == "<default hosts>"
    with install() as installation:
        finder = installation._finder
        assert finder.find_spec("json", None) is None
        assert finder.find_spec("httpx", None) is None  # already patched
        installation._patch_module("httpx")  # again: nothing to do
        monkeypatch.setitem(installation._watched, "no_such_stack", "x")
        assert finder.find_spec("no_such_stack", None) is None
        monkeypatch.setitem(installation._watched, "beta_middleware", "x")
        spec = finder.find_spec("beta_middleware", None)
        assert spec is not None
        assert type(spec.loader).__name__ == "_PatchingLoader"

        class Bare:  # a finder whose spec has no loader to wrap
            def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
                return importlib.machinery.ModuleSpec(name, None)

        monkeypatch.setattr(sys, "meta_path", [finder, object(), Bare()])
        bare = finder.find_spec("beta_middleware", None)
        assert bare is not None
        assert bare.loader is None
        sys.meta_path.remove(finder)  # taken out by someone else: uninstall copes
    assert install_module.installed() is None


# threads


@pytest.fixture
def threads_installed() -> Iterator[Installation]:
    with install(threads=True) as installation:
        yield installation


@pytest.mark.usefixtures("threads_installed")
def test_threads_run_with_the_betas_of_their_creation() -> None:
    seen: list[tuple[str, ...]] = []

    def job() -> None:
        seen.append(beta_middleware.current_betas())

    class Sub(threading.Thread):
        def run(self) -> None:
            job()

    with betas("a"):
        made = [threading.Thread(target=job), Sub()]
    later = threading.Thread(target=job)
    with betas("b"):
        made.append(later)  # created outside any scope: none, wherever it is started
        for thread in made:
            thread.start()
            thread.join()
    plain = threading.Thread(target=job)
    plain.start()
    plain.join()
    assert seen == [("a",), ("a",), (), ()]


@pytest.mark.usefixtures("threads_installed")
async def test_executor_jobs_run_with_the_betas_of_their_submission() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: None).result()  # the worker exists before the scope
        with betas("a"):
            assert pool.submit(beta_middleware.current_betas).result() == ("a",)
            assert list(pool.map(lambda _: beta_middleware.current_betas(), [1, 2])) == [("a",)] * 2
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(pool, beta_middleware.current_betas) == ("a",)
            assert await loop.run_in_executor(None, beta_middleware.current_betas) == ("a",)
        assert pool.submit(beta_middleware.current_betas).result() == ()  # the worker as it was


def test_without_threads_a_thread_sees_none() -> None:
    seen: list[tuple[str, ...]] = []
    with install(), betas("a"):
        thread = threading.Thread(target=lambda: seen.append(beta_middleware.current_betas()))
        thread.start()
        thread.join()
    assert seen == [()]


def test_carry_runs_with_the_betas_of_its_call_many_times_concurrently() -> None:
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(4)

    def job(i: int) -> tuple[int, tuple[str, ...]]:
        barrier.wait(5)
        with betas(f"n{i}"):
            return i, beta_middleware.current_betas()

    with betas("a"):
        carried = beta_middleware.carry(job)
    with ThreadPoolExecutor(4) as pool:
        pool.submit(lambda: None).result()
        results = list(pool.map(carried, range(4)))
        assert results == [(i, ("a", f"n{i}")) for i in range(4)]
        assert pool.submit(beta_middleware.current_betas).result() == ()
    assert carried.__name__ == "job"
    with pytest.raises(TypeError, match="carry\\(\\) takes a callable, not 5"):
        beta_middleware.carry(5)  # type: ignore[type-var]


async def test_carry_an_async_function() -> None:
    async def job() -> tuple[str, ...]:
        await asyncio.sleep(0)
        return beta_middleware.current_betas()

    with betas("a"):
        carried = beta_middleware.carry(job)
    assert await carried() == ("a",)
    assert beta_middleware.current_betas() == ()


def test_carry_restores_on_an_exception() -> None:
    def fail() -> None:
        raise KeyError("x")

    with betas("a"):
        carried = beta_middleware.carry(fail)
    with pytest.raises(KeyError):
        carried()
    assert beta_middleware.current_betas() == ()


# thread safety: installing and uninstalling while other threads send


def test_install_and_uninstall_while_sending(server: Server) -> None:
    stop = threading.Event()
    seen: set[str | None] = set()
    errors: list[BaseException] = []
    client, session = httpx2.Client(), requests.Session()

    def send(get: Callable[[str], Any]) -> None:
        with betas("a"):
            for _ in range(200):
                if stop.is_set():
                    return
                try:
                    seen.add(get(server.url_for("/echo")).json()[HEADER])
                except BaseException as exc:
                    errors.append(exc)
                    return

    workers = [threading.Thread(target=send, args=(get,)) for get in (client.get, session.get)]
    for worker in workers:
        worker.start()
    for _ in range(30):
        install(betas="f", hosts=LOCAL).uninstall()
    stop.set()
    for worker in workers:
        worker.join(30)
    client.close()
    session.close()
    assert errors == []
    assert seen <= {None, "a", "f,a"}
