"""Several of our layers on one request's path: the model of `beta_middleware._core.header.Below`.

Every combination is generated, not picked: an SDK client with or without an explicit
`BetaMiddleware`, with the process-wide installation on or off, over an `http_client`
with no layer of ours, a `BetaTransport`, an `instrument()`ed client or two transports,
each layer with its own `betas=` and `drop_rejected` on or off, the server refusing the
context's name or one layer's own name, sync and async - on a loopback Messages server.

The rules the model gives, checked against each combination:
- the context's names are added once per request path, each name once on the wire;
- each layer's own `betas=` are sent;
- the layer that first put the refused name on the request decides: with
  `drop_rejected=True` it resends once without it, and no later request of that path
  sends it again (one refused send per name); without it the refusal goes through, and
  the next request sends the name again;
- a name left off after a refusal is never put back by another layer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import pytest

import beta_middleware.httpx2 as ours
from beta_middleware import HEADER, betas, install
from beta_middleware.anthropic import BetaMiddleware

from .messages_server import MessagesServer, start

CONTEXT = ("alpha-2025-01-01", "retired-2024-01-01")
INSTALLED = "installed-2025-01-01"
MIDDLEWARE = "middleware-2025-01-01"
OUTER, INNER = "transport-2025-01-01", "inner-transport-2025-01-01"
INSTRUMENTED = "instrumented-2025-01-01"
ASK: dict[str, Any] = {
    "model": "claude-test-1",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "Hi"}],
}


@dataclass(frozen=True)
class Layer:
    name: str  # its own betas=
    drop: bool


@dataclass(frozen=True)
class Case:
    middleware: bool
    installed: bool
    http: str  # "none", "transport", "instrument", "two"
    drops: tuple[bool, ...]  # one per layer kind present, in `kinds` order
    refused: str
    mode: str

    def kinds(self) -> list[str]:
        return kinds(self.middleware, self.installed, self.http)

    def drop(self, kind: str) -> bool:
        return self.drops[self.kinds().index(kind)]

    def path(self) -> list[Layer]:
        """The layers a request passes, outermost first."""
        path: list[Layer] = []
        if self.installed:
            path.append(Layer(INSTALLED, self.drop("installed")))  # the SDK's installed middleware
        if self.middleware:
            path.append(Layer(MIDDLEWARE, self.drop("middleware")))
        if self.installed:
            path.append(Layer(INSTALLED, self.drop("installed")))  # the HTTP stack's patch
        if self.http in ("transport", "two"):
            path.append(Layer(OUTER, self.drop("transport")))
        if self.http == "two":
            path.append(Layer(INNER, self.drop("inner")))
        if self.http == "instrument":
            path.append(Layer(INSTRUMENTED, self.drop("instrument")))
        return path

    def adder(self) -> Layer:
        """The layer that first puts the refused name on the request."""
        path = self.path()
        if self.refused in CONTEXT:
            return path[0]  # the owner merges the context's names
        return next(layer for layer in path if layer.name == self.refused)

    def names(self) -> set[str]:
        return {*CONTEXT, *(layer.name for layer in self.path())}


def kinds(middleware: bool, installed: bool, http: str) -> list[str]:
    found = ["installed"] * installed + ["middleware"] * middleware
    found += {
        "none": [],
        "transport": ["transport"],
        "instrument": ["instrument"],
        "two": ["transport", "inner"],
    }[http]
    return found


def cases() -> Iterator[Case]:
    for middleware, installed, http in itertools.product(
        (False, True), (False, True), ("none", "transport", "instrument", "two")
    ):
        present = kinds(middleware, installed, http)
        if not present:
            continue  # no layer of ours
        for drops in itertools.product((False, True), repeat=len(present)):
            probe = Case(middleware, installed, http, drops, CONTEXT[1], "sync")
            for refused in sorted({CONTEXT[1], *(layer.name for layer in probe.path())}):
                for mode in ("sync", "async"):
                    yield Case(middleware, installed, http, drops, refused, mode)


def case_id(case: Case) -> str:
    present = "+".join(
        f"{kind}{'(drop)' if drop else ''}" for kind, drop in zip(case.kinds(), case.drops, strict=False)
    )
    return f"{present}-refuses-{case.refused.partition('-20')[0]}-{case.mode}"


@pytest.fixture(scope="module")
def api() -> Iterator[MessagesServer]:
    state, httpd, thread = start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def http_client(case: Case) -> Any:
    sync = case.mode == "sync"
    transport: Any
    client: Any
    transport, client = (
        (ours.BetaTransport, httpx2.Client) if sync else (ours.AsyncBetaTransport, httpx2.AsyncClient)
    )
    if case.http == "none":
        return client()
    if case.http == "instrument":
        return ours.instrument(client(), betas=INSTRUMENTED, drop_rejected=case.drop("instrument"))
    inner = transport(betas=INNER, drop_rejected=case.drop("inner")) if case.http == "two" else None
    return client(transport=transport(inner, betas=OUTER, drop_rejected=case.drop("transport")))


def sdk_client(case: Case, api: MessagesServer) -> Any:
    cls = anthropic.Anthropic if case.mode == "sync" else anthropic.AsyncAnthropic
    middleware = (
        [BetaMiddleware(betas=MIDDLEWARE, drop_rejected=case.drop("middleware"))] if case.middleware else []
    )
    return cls(
        api_key="k", base_url=api.url, max_retries=0, http_client=http_client(case), middleware=middleware
    )


async def ask(client: Any, case: Case) -> bool:
    """One call; whether it succeeded (False: the refusal came through)."""
    try:
        result = client.messages.create(**ASK)
        if case.mode == "async":
            await result
    except anthropic.BadRequestError as error:
        refusal = str(error)
    else:
        return True
    assert f"Unsupported beta header: {case.refused}" in refusal
    return False


def sent(api: MessagesServer, start: int) -> list[list[str]]:
    return [(call.beta or "").split(",") for call in api.received[start:]]


@pytest.mark.parametrize("case", list(cases()), ids=case_id)
async def test_layers_on_one_path_follow_one_model(api: MessagesServer, case: Case) -> None:
    api.refuse = {case.refused}
    installation = (
        install(betas=INSTALLED, hosts=None, drop_rejected=case.drop("installed")) if case.installed else None
    )
    client = sdk_client(case, api)
    try:
        with betas(*CONTEXT):
            first = len(api.received)
            ok = await ask(client, case)
            second = len(api.received)
            again = await ask(client, case)
            calls, later = sent(api, first)[: second - first], sent(api, second)
    finally:
        if case.mode == "sync":
            client.close()
        else:
            await client.close()
        if installation is not None:
            installation.uninstall()
    for header in calls + later:
        assert len(header) == len(set(header)), header  # each name once on the wire
    assert set(calls[0]) == case.names()  # every layer's own names and the context's, once
    if case.adder().drop:
        # refused once, resent once without it; the next request never sends it
        assert ok
        assert again
        assert len(calls) == 2
        assert set(calls[1]) == case.names() - {case.refused}
        assert len(later) == 1
        assert set(later[0]) == case.names() - {case.refused}
    else:
        # the layer that added it lets the refusal through, on every request
        assert not ok
        assert not again
        assert len(calls) == 1
        assert len(later) == 1
        assert set(later[0]) == case.names()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_middleware_below_whose_names_the_owner_sent_adds_nothing(
    api: MessagesServer, mode: str
) -> None:
    # The installation's SDK middleware owns the call; the explicit middleware's betas= is
    # a name of the context, already on the request: each name goes once, every name goes.
    api.refuse = set()
    case = Case(True, True, "none", (False, False), CONTEXT[1], mode)
    installation = install(betas=INSTALLED, hosts=None)
    cls = anthropic.Anthropic if mode == "sync" else anthropic.AsyncAnthropic
    client: Any = cls(
        api_key="k", base_url=api.url, max_retries=0, middleware=[BetaMiddleware(betas=CONTEXT[0])]
    )
    try:
        with betas(*CONTEXT):
            first = len(api.received)
            assert await ask(client, case)
    finally:
        if mode == "sync":
            client.close()
        else:
            await client.close()
        installation.uninstall()
    [header] = sent(api, first)
    assert sorted(header) == sorted({*CONTEXT, INSTALLED})


# The HTTP stacks without the SDK: a transport wrapping another, and the installation
# over an explicit integration (requests, httpx, httpx2; sync and async), every subset
# of drop_rejected, every name refused in turn.

HTTP_STACKS = ("requests", "httpx", "httpx2", "httpx-async", "httpx2-async")


@dataclass(frozen=True)
class HttpCase:
    stack: str
    shape: str  # "two" (a transport over a transport) or "installed" (over an explicit one)
    drops: tuple[bool, bool]  # outer, inner
    refused: str
    inner: str = INNER  # the inner layer's betas=: its own name, or one the owner sends anyway

    def path(self) -> list[Layer]:
        outer = INSTALLED if self.shape == "installed" else OUTER
        return [Layer(outer, self.drops[0]), Layer(self.inner, self.drops[1])]

    def names(self) -> set[str]:
        return {*CONTEXT, *(layer.name for layer in self.path())}

    def adder(self) -> Layer:
        path = self.path()
        return path[0] if self.refused in CONTEXT else next(x for x in path if x.name == self.refused)


def http_cases() -> Iterator[HttpCase]:
    for stack in HTTP_STACKS:
        for shape in ("two", "installed"):
            if stack == "requests" and shape == "two":
                continue  # an adapter sends; it wraps nothing
            # the inner layer's betas= its own, or the context's first name (never refused
            # here), which the owner has sent already: the inner layer then adds nothing
            for (outer, inner), own in itertools.product(
                itertools.product((False, True), repeat=2), (INNER, CONTEXT[0])
            ):
                drops = (outer, inner)
                probe = HttpCase(stack, shape, drops, CONTEXT[1], own)
                for refused in sorted(probe.names() - {CONTEXT[0]}):
                    yield HttpCase(stack, shape, drops, refused, own)


def http_id(case: HttpCase) -> str:
    drops = "".join("d" if drop else "-" for drop in case.drops)
    shared = "-shared" if case.inner != INNER else ""
    return f"{case.stack}-{case.shape}{shared}-{drops}-refuses-{case.refused.partition('-20')[0]}"


async def send_twice(case: HttpCase, url: str) -> list[int]:
    """Two requests through the case's layers; their status codes."""
    import httpx
    import requests

    from beta_middleware.requests import BetaAdapter

    outer, inner = case.drops
    if case.stack == "requests":
        session = requests.Session()
        session.mount("http://", BetaAdapter(betas=case.inner, drop_rejected=inner))
        with session:
            return [session.post(url, data=b"body").status_code for _ in range(2)]
    stack = httpx2 if case.stack.startswith("httpx2") else httpx
    integration: Any = ours if stack is httpx2 else __import__("beta_middleware.httpx", fromlist=["x"])
    asynchronous = case.stack.endswith("async")
    transport = integration.AsyncBetaTransport if asynchronous else integration.BetaTransport
    below = transport(betas=case.inner, drop_rejected=inner)
    if case.shape == "two":
        below = transport(below, betas=OUTER, drop_rejected=outer)
    if asynchronous:
        async with stack.AsyncClient(transport=below) as client:
            return [(await client.post(url, content=b"body")).status_code for _ in range(2)]
    with stack.Client(transport=below) as client:
        return [client.post(url, content=b"body").status_code for _ in range(2)]


@pytest.mark.parametrize("case", list(http_cases()), ids=http_id)
async def test_http_layers_on_one_path_follow_one_model(case: HttpCase) -> None:
    from .server import start as start_server

    state, httpd, thread = start_server()
    installed = case.shape == "installed"
    installation = install(betas=INSTALLED, hosts=None, drop_rejected=case.drops[0]) if installed else None
    try:
        with betas(*CONTEXT):
            statuses = await send_twice(case, state.url_for(f"/reject/unexpected?betas={case.refused}"))
    finally:
        if installation is not None:
            installation.uninstall()
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    received = [(call.beta or "").split(",") for call in state.received]
    for header in received:
        assert len(header) == len(set(header)), header
    assert set(received[0]) == case.names()
    if case.adder().drop:
        assert statuses == [200, 200]
        assert [set(header) for header in received] == [case.names()] + [case.names() - {case.refused}] * 2
    else:
        assert statuses == [400, 400]
        assert [set(header) for header in received] == [case.names()] * 2


# A request object sent again, by another client or layer, starts from what the caller set.


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stack_name", ["httpx", "httpx2"])
async def test_a_request_sent_again_through_another_client_starts_from_the_callers_value(
    stack_name: str, asynchronous: bool
) -> None:
    import importlib

    stack = importlib.import_module(stack_name)
    integration = importlib.import_module(f"beta_middleware.{stack_name}")
    seen: list[str | None] = []

    def answer(request: Any) -> Any:
        seen.append(request.headers.get("anthropic-beta"))
        return stack.Response(200)

    mock = stack.MockTransport(answer)
    kind = integration.AsyncBetaTransport if asynchronous else integration.BetaTransport
    clients = (stack.AsyncClient if asynchronous else stack.Client,)
    a = clients[0](transport=kind(mock, betas="a-client-2025-01-01"))
    b = clients[0](transport=kind(mock, betas="b-client-2025-01-01"))
    plain_b = clients[0](transport=kind(mock))
    request = a.build_request(
        "POST", "https://api.anthropic.com/v1/messages", headers={HEADER: "own-2025-01-01"}
    )
    sends = [(a, "scope-2025-01-01"), (b, None), (plain_b, None), (a, None)]
    for client, scope in sends:
        with betas(*([scope] if scope else [])):
            response = client.send(request)
            if asynchronous:
                await response
    assert seen == [
        "own-2025-01-01,a-client-2025-01-01,scope-2025-01-01",
        "own-2025-01-01,b-client-2025-01-01",
        "own-2025-01-01",
        "own-2025-01-01,a-client-2025-01-01",
    ]
    for client in (a, b, plain_b):
        if asynchronous:
            await client.aclose()
        else:
            client.close()


# Nothing of the caller's stack is kept by what outlives a scope: a client, its transport's
# rules cache, an SDK middleware, an installation, after requests made inside the scope.


class _Payload:
    """A caller's local: a request body, a dataframe..."""


def _send_in_a_scope(send: Any) -> Any:
    """`send()` inside scopes entered two frames below a caller holding a payload."""
    import weakref

    def outer() -> Any:
        payload = _Payload()
        inner()
        return weakref.ref(payload)

    def inner() -> None:
        with betas("kept-2025-01-01"), betas("inner-2025-01-01"):
            send()

    return outer()


@pytest.mark.parametrize("holder", ["transport", "instrument", "sdk middleware", "installed", "adapter"])
def test_what_outlives_a_scope_keeps_nothing_of_the_stack_that_entered_it(
    api: MessagesServer, holder: str
) -> None:
    import gc

    import requests

    from beta_middleware.requests import BetaAdapter

    installation = install(betas="f-2025-01-01", hosts=None) if holder == "installed" else None
    try:
        if holder == "adapter":
            session = requests.Session()
            session.mount("http://", BetaAdapter(betas=["inner-2025-01-01", "f-2025-01-01"]))
            kept: Any = session
            payload = _send_in_a_scope(lambda: session.get(api.url + "/v1/models"))
        elif holder == "sdk middleware":
            kept = anthropic.Anthropic(
                api_key="k", base_url=api.url, middleware=[BetaMiddleware(betas=["inner-2025-01-01"])]
            )
            payload = _send_in_a_scope(lambda: kept.messages.create(**ASK))
        else:
            transport = ours.BetaTransport(betas=["inner-2025-01-01", "f-2025-01-01"])
            build: dict[str, Any] = {
                "transport": lambda: httpx2.Client(transport=transport),
                "instrument": lambda: ours.instrument(httpx2.Client(), betas=["inner-2025-01-01"]),
                "installed": httpx2.Client,
            }
            kept = build[holder]()
            payload = _send_in_a_scope(lambda: kept.get(api.url + "/v1/models"))
        gc.collect()
        assert payload() is None
    finally:
        if installation is not None:
            installation.uninstall()
    kept.close()
