"""BetaMiddleware with the anthropic SDK's real client classes.

Unit tests send through the `MockTransport` of the SDK's stack (httpx2, or httpx on
0.x) with fake credentials (nothing leaves the process); the loopback tests send to the
real server of tests/server.py. Every test runs on the installed SDK line (see
`sdk_cases.STACK`).
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from anthropic import APIRequest, AsyncAnthropic, AsyncAnthropicBedrock, AsyncAnthropicVertex, Middleware
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

import beta_middleware.anthropic as anthropic_integration
from beta_middleware import HEADER, InvalidBetaError, betas
from beta_middleware._cli.demo import collect, main
from beta_middleware._core.header import split
from beta_middleware.anthropic import BetaMiddleware

from .sdk_cases import INTEGRATION, LINE_MARKS, STACK, resolve
from .server import Server
from .test_compat import final_request_options

pytestmark = LINE_MARKS

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
ASK: dict[str, Any] = {
    "model": "claude-test",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "hi"}],
}


class Recorder:
    """A MockTransport handler that records every request and answers a Message."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[STACK.Request] = []
        self.fail_first = fail_first

    def __call__(self, request: STACK.Request) -> STACK.Response:
        request.read()
        self.requests.append(request)
        if len(self.requests) <= self.fail_first:
            return STACK.Response(529, json={"type": "error"}, headers={"retry-after-ms": "1"})
        return STACK.Response(200, json=MESSAGE)

    @property
    def sent(self) -> list[str | None]:
        return [r.headers.get(HEADER) for r in self.requests]

    @property
    def lines(self) -> list[list[str]]:
        return [r.headers.get_list(HEADER) for r in self.requests]


class AsyncRecorder(Recorder):
    async def handle(self, request: STACK.Request) -> STACK.Response:
        await asyncio.sleep(0)  # lets the other tasks run between receiving and answering
        return self(request)


def sync_client(
    recorder: Recorder,
    *middleware: Any,
    http_headers: dict[str, str] | None = None,
    http: Any = None,
    **kwargs: Any,
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test-key",
        base_url="https://api.anthropic.test",
        http_client=http or STACK.Client(headers=http_headers, transport=STACK.MockTransport(recorder)),
        middleware=list(middleware),
        **kwargs,
    )


def async_client(
    recorder: AsyncRecorder,
    *middleware: Any,
    http_headers: dict[str, str] | None = None,
    http: Any = None,
    **kwargs: Any,
) -> AsyncAnthropic:
    return AsyncAnthropic(
        api_key="test-key",
        base_url="https://api.anthropic.test",
        http_client=http
        or STACK.AsyncClient(headers=http_headers, transport=STACK.MockTransport(recorder.handle)),
        middleware=list(middleware),
        **kwargs,
    )


# Each case: the client's default_headers, the call's arguments, the context, what is sent.
# Without a middleware the SDK sends the call's own value over the client's default.
MERGE_CASES = [
    pytest.param({}, {}, ("a", "b"), "f,a,b", id="fixed-then-context"),
    pytest.param({}, {"betas": ["x", "a"]}, ("a", "b"), "x,a,f,b", id="call-betas-first"),
    pytest.param({}, {"extra_headers": {HEADER: "e1, e2,,f"}}, ("b",), "e1,e2,f,b", id="extra-headers"),
    pytest.param({}, {"extra_headers": {"Anthropic-Beta": "e"}}, ("b",), "e,f,b", id="header-case"),
    pytest.param({HEADER: "d"}, {}, ("b",), "d,f,b", id="default-headers"),
    pytest.param({HEADER: "d"}, {"betas": ["x"]}, ("b",), "x,f,b", id="call-over-default"),
    pytest.param(
        {HEADER: "d"}, {"extra_headers": {HEADER: anthropic.omit}}, ("b",), "f,b", id="default-omitted"
    ),
    pytest.param({}, {"betas": ["f", "b"]}, ("b",), "f,b", id="all-present"),
]


@pytest.mark.parametrize(("defaults", "call", "context", "expected"), MERGE_CASES)
def test_merge_order_sync(
    defaults: dict[str, str], call: dict[str, Any], context: tuple[str, ...], expected: str
) -> None:
    recorder = Recorder()
    client = sync_client(recorder, BetaMiddleware(betas="f"), default_headers=defaults)
    with betas(context):
        message = client.beta.messages.create(**ASK, **call)
    assert message.content[0].type == "text"
    assert recorder.lines == [[expected]]


@pytest.mark.parametrize(("defaults", "call", "context", "expected"), MERGE_CASES)
async def test_merge_order_async(
    defaults: dict[str, str], call: dict[str, Any], context: tuple[str, ...], expected: str
) -> None:
    recorder = AsyncRecorder()
    client = async_client(recorder, BetaMiddleware(betas="f"), default_headers=defaults)
    async with betas(context):
        await client.beta.messages.create(**ASK, **call)
    assert recorder.lines == [[expected]]


# Every layer the SDK sends: the call's header, the client's default_headers (or
# ANTHROPIC_CUSTOM_HEADERS), the headers of the http_client it was given. Whatever the SDK
# alone sends for a combination, the middleware sends that, then its names.

OMITTED = "<omit>"
HTTP_LAYER = [None, "h1, h2"]
DEFAULT_LAYER = [None, "d", "<env>", OMITTED]
CALL_LAYER = [None, "c", OMITTED]


def layer(value: str | None) -> dict[str, Any]:
    if value is None or value == "<env>":
        return {}
    return {HEADER: anthropic.omit if value == OMITTED else value}


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def send_through_layers(
    kind: str, http: str | None, default: str | None, call: str | None, *middleware: Any
) -> list[list[str]]:
    recorder = AsyncRecorder()
    make: Any = sync_client if kind == "sync" else async_client
    client = make(recorder, *middleware, http_headers=layer(http), default_headers=layer(default))
    await resolve(client.messages.create(**ASK, extra_headers=layer(call)))
    return recorder.lines


@pytest.mark.parametrize("call", CALL_LAYER)
@pytest.mark.parametrize("default", DEFAULT_LAYER)
@pytest.mark.parametrize("http", HTTP_LAYER)
async def test_merges_with_every_layer_the_sdk_sends(
    kind: str, http: str | None, default: str | None, call: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if default == "<env>":
        monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", f"{HEADER}: env\nx-other: 1")
    (alone,) = await send_through_layers(kind, http, default, call)
    with betas("b", "h2"):
        (merged,) = await send_through_layers(kind, http, default, call, BetaMiddleware(betas="f"))
    assert merged == [",".join(split((*alone, "f,b,h2")))]
    # What the SDK alone sends: the call's value, else the client's, else the http_client's.
    own = call if call not in (None, OMITTED) else default if call is None and default != OMITTED else None
    own = "env" if own == "<env>" else own or http
    assert alone == ([] if own is None else [own])


async def test_the_http_clients_header_read_at_each_request(kind: str) -> None:
    # httpx merges the http_client's headers into each request: a change to them applies.
    recorder = AsyncRecorder()
    if kind == "sync":
        http: Any = STACK.Client(headers={HEADER: "h"}, transport=STACK.MockTransport(recorder))
        client: Any = sync_client(recorder, BetaMiddleware(), http=http)
    else:
        http = STACK.AsyncClient(headers={HEADER: "h"}, transport=STACK.MockTransport(recorder.handle))
        client = async_client(recorder, BetaMiddleware(), http=http)
    with betas("b"):
        await resolve(client.messages.create(**ASK))
        http.headers[HEADER] = "h2"  # the http_client's own headers, which the middleware reads
        await resolve(client.messages.create(**ASK))
        del http.headers[HEADER]
        await resolve(client.messages.create(**ASK))
    assert recorder.sent == ["h,b", "h2,b", "b"]


def test_the_sdk_alone_sends_the_calls_value_over_the_default() -> None:
    # What "the request's own value" means for the call-over-default case above.
    recorder = Recorder()
    client = sync_client(recorder, default_headers={HEADER: "d"})
    client.beta.messages.create(**ASK, betas=["x"])
    client.messages.create(**ASK)
    assert recorder.sent == ["x", "d"]


class Spy(Middleware):
    """Records the APIRequest objects it is handed."""

    def __init__(self) -> None:
        self.seen: list[APIRequest] = []

    def handle(self, request: APIRequest, call_next: Any) -> Any:
        self.seen.append(request)
        return call_next(request)

    async def handle_async(self, request: APIRequest, call_next: Any) -> Any:
        self.seen.append(request)
        return await call_next(request)


@pytest.mark.parametrize(
    ("defaults", "call", "context", "expected"),
    [
        pytest.param({}, {}, (), None, id="nothing-active"),
        pytest.param({}, {"betas": ["x"]}, (), "x", id="own-only"),
        pytest.param({HEADER: "d"}, {}, (), "d", id="default-only"),
        pytest.param({}, {"betas": ["x", "a"]}, ("a",), "x,a", id="already-there"),
        pytest.param({HEADER: "d,a"}, {}, ("a",), "d,a", id="already-in-default"),
    ],
)
def test_nothing_to_add_leaves_the_request_untouched(
    defaults: dict[str, str], call: dict[str, Any], context: tuple[str, ...], expected: str | None
) -> None:
    before, after, recorder = Spy(), Spy(), Recorder()
    client = sync_client(recorder, before, BetaMiddleware(), after, default_headers=defaults)
    with betas(context):
        client.beta.messages.create(**ASK, **call)
    assert after.seen[0] is before.seen[0]
    assert recorder.sent == [expected]


async def test_nothing_active_async_sends_no_header() -> None:
    before, after, recorder = Spy(), Spy(), AsyncRecorder()
    client = async_client(recorder, before, BetaMiddleware(), after)
    await client.messages.create(**ASK)
    assert after.seen[0] is before.seen[0]
    assert HEADER not in recorder.requests[0].headers


def test_the_callers_request_is_not_modified() -> None:
    before, recorder = Spy(), Recorder()
    client = sync_client(recorder, before, BetaMiddleware())
    with betas("a"):
        client.beta.messages.create(**ASK, betas=["x"])
    assert before.seen[0].headers[HEADER] == "x"
    assert recorder.sent == ["x,a"]


async def test_concurrent_async_calls_each_send_their_own_betas() -> None:
    recorder = AsyncRecorder()
    client = async_client(recorder, BetaMiddleware(betas="fixed"))

    async def call(i: int) -> None:
        async with betas(f"task-{i}"):
            await client.messages.create(**ASK, extra_headers={"x-task": str(i)})

    await asyncio.gather(*(call(i) for i in range(100)))
    assert len(recorder.requests) == 100
    for request in recorder.requests:
        assert request.headers.get_list(HEADER) == [f"fixed,task-{request.headers['x-task']}"]


def test_each_retry_attempt_carries_the_betas_once() -> None:
    recorder = Recorder(fail_first=1)
    client = sync_client(recorder, BetaMiddleware(), max_retries=1)
    with betas("a"):
        client.beta.messages.create(**ASK, betas=["x"])
    assert recorder.lines == [["x,a"], ["x,a"]]


def test_streaming_call_carries_the_betas() -> None:
    recorder = Recorder()
    client = sync_client(recorder, BetaMiddleware())
    with betas("a"), client.messages.with_streaming_response.create(**ASK) as response:
        assert response.http_request.headers[HEADER] == "a"
    assert recorder.sent == ["a"]


def test_with_middleware() -> None:
    recorder = Recorder()
    client = sync_client(recorder)
    scoped = client.with_middleware(BetaMiddleware(betas="f"))
    with betas("a"):
        scoped.messages.create(**ASK)
        client.messages.create(**ASK)  # the original client has no middleware
    assert recorder.sent == ["f,a", None]


async def test_with_middleware_async() -> None:
    recorder = AsyncRecorder()
    client = async_client(recorder, default_headers={HEADER: "d"})
    async with betas("a"):
        await client.with_middleware(BetaMiddleware()).messages.create(**ASK)
    assert recorder.sent == ["d,a"]


def test_one_middleware_serves_several_clients() -> None:
    middleware = BetaMiddleware()
    one, two = Recorder(), Recorder()
    first = sync_client(one, middleware, default_headers={HEADER: "one"})
    second = sync_client(two, middleware, default_headers={HEADER: "two"})
    with betas("a"):
        first.messages.create(**ASK)
        second.messages.create(**ASK)
        first.messages.create(**ASK)
    assert one.sent == ["one,a", "one,a"]
    assert two.sent == ["two,a"]


def plain(request: APIRequest, call_next: Callable[[APIRequest], Any]) -> Any:
    return call_next(request)


def test_finds_the_clients_defaults_through_other_middleware() -> None:
    # Pins the walk over the SDK's chain (the one spot relying on its internals):
    # the client is found behind function and class middleware.
    recorder = Recorder()
    client = sync_client(recorder, BetaMiddleware(), plain, Spy(), plain, default_headers={HEADER: "d"})
    with betas("a"):
        client.messages.create(**ASK)
    assert recorder.sent == ["d,a"]


def test_handle_outside_a_client_chain() -> None:
    # A call_next that is no SDK chain: the client's defaults are unknown, the betas still go on.
    seen: list[APIRequest] = []
    options = final_request_options(method="post", url="/v1/messages", headers={"x-other": "1"}, json_data={})
    request = APIRequest(options=options, cast_to=dict)

    def call_next(req: APIRequest) -> Any:
        seen.append(req)
        return "response"

    with betas("a"):
        result: object = BetaMiddleware(betas="f").handle(request, call_next)
    assert result == "response"
    assert dict(seen[0].headers) == {"x-other": "1", HEADER: "f,a"}
    assert dict(request.headers) == {"x-other": "1"}


@pytest.mark.parametrize("where", ["extra_json", "json_data"])
@pytest.mark.parametrize(
    ("header", "body", "context", "expected"),
    [
        pytest.param({}, ["y"], ("a",), ("a", ["y", "a"]), id="added"),
        pytest.param({HEADER: "a"}, ["y"], ("a",), ("a", ["y", "a"]), id="only-the-body-lacks-it"),
        pytest.param({HEADER: "a"}, ["a", "y"], ("a",), None, id="nothing-to-add"),
        pytest.param({}, "y", ("a",), ("a", "y"), id="not-a-list"),
    ],
)
def test_body_betas_where_each_sdk_line_holds_them(
    where: str, header: dict[str, str], body: object, context: tuple[str, ...], expected: Any
) -> None:
    # anthropic 0.x hands the middleware extra_body apart (extra_json); 1.x has merged it
    # into the body (json_data) by then. Both are the caller's own anthropic_beta.
    data = {"anthropic_beta": body}
    options = final_request_options(
        method="post",
        url="/v1/messages",
        headers=header,
        json_data=data if where == "json_data" else {"model": "m"},
        extra_json=data if where == "extra_json" else None,
    )
    request = APIRequest(options=options, cast_to=dict)
    seen: list[APIRequest] = []

    def call_next(req: APIRequest) -> Any:
        seen.append(req)
        return "response"

    with betas(context):
        BetaMiddleware().handle(request, call_next)
    (sending,) = seen
    if expected is None:
        assert sending is request
        return
    sent_body: Any = (
        sending.options.extra_json if where == "extra_json" else sending.options.json_data
    ) or {}
    assert (sending.headers[HEADER], sent_body["anthropic_beta"]) == expected
    assert data == {"anthropic_beta": body}  # the caller's own value is unchanged


def test_handle_with_a_call_next_that_takes_no_weak_reference() -> None:
    # Such a step cannot be remembered per chain: it is looked at on each call, and is no SDK chain.
    options = final_request_options(method="post", url="/v1/messages", json_data={})
    request = APIRequest(options=options, cast_to=dict)
    seen: list[APIRequest] = []

    class Step:
        __slots__ = ()

        def __call__(self, req: APIRequest) -> Any:
            seen.append(req)
            return "response"

    with betas("a"):
        results: list[object] = [BetaMiddleware().handle(request, Step()) for _ in range(2)]
    assert results == ["response", "response"]
    assert [dict(r.headers) for r in seen] == [{HEADER: "a"}] * 2


def test_the_walk_down_a_chain_is_bounded() -> None:
    # A step that leads back to itself holds no client: the walk gives up instead of looping.
    def call_next(request: APIRequest) -> Any:
        return call_next(request)

    assert anthropic_integration._chain_client(call_next) is None


def test_a_middleware_keeps_no_client_alive() -> None:
    # It remembers the chain it met last, weakly: a client dropped by the program goes.
    import gc
    import weakref

    middleware = BetaMiddleware()
    recorder = Recorder()
    http = STACK.Client(headers={HEADER: "h"}, transport=STACK.MockTransport(recorder))
    client = sync_client(recorder, middleware, http=http)
    with betas("a"):
        client.messages.create(**ASK)
    assert recorder.sent == ["h,a"]
    client_ref, http_ref = weakref.ref(client), weakref.ref(http)
    del client, http
    gc.collect()
    assert client_ref() is None
    assert http_ref() is None
    other = Recorder()
    with betas("b"):
        sync_client(other, middleware).messages.create(**ASK)
    assert other.sent == ["b"]


def test_a_copied_middleware_serves_clients() -> None:
    import copy
    import pickle

    middleware = BetaMiddleware(betas="f", drop_rejected=True)
    with betas("a"):
        sync_client(Recorder(), middleware).messages.create(**ASK)  # it has met a chain
        twins = (pickle.loads(pickle.dumps(middleware)), copy.deepcopy(middleware), copy.copy(middleware))
        for twin in twins:
            recorder = Recorder()
            sync_client(recorder, twin, default_headers={HEADER: "d"}).messages.create(**ASK)
            assert recorder.sent == ["d,f,a"]
            assert repr(twin) == repr(middleware)
            assert twin.rules.owner is not None
            assert twin.rules.owner() is twin


# Bedrock: the SDK moves the header into the body's `anthropic_beta`, then signs with SigV4.


BEDROCK: dict[str, Any] = {
    "aws_access_key": "AKIDTEST",
    "aws_secret_key": "secret",
    "aws_region": "us-east-1",
}


def sigv4_signed(request: STACK.Request) -> tuple[list[str], bool]:
    """The headers a SigV4 signature names, and whether it matches what was sent."""
    authorization = request.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    signed = fields["SignedHeaders"].split(";")
    aws = AWSRequest(
        method=request.method,
        url=str(request.url),
        headers={name: request.headers[name] for name in signed},
        data=request.content,
    )
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials("AKIDTEST", "secret"), "bedrock", "us-east-1")
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    return signed, fields["Signature"] == expected


def assert_sigv4_valid(request: STACK.Request) -> None:
    """The request's SigV4 signature covers the headers and body that were sent."""
    signed, matches = sigv4_signed(request)
    assert "content-type" in signed
    assert matches


@pytest.mark.usefixtures("aws_env")
def test_bedrock_betas_land_in_the_signed_body() -> None:
    recorder = Recorder()
    # Any: the SDK's annotations reject `beta.messages.create` on this client, which it serves.
    client: Any = anthropic.AnthropicBedrock(
        **BEDROCK,
        http_client=STACK.Client(transport=STACK.MockTransport(recorder)),
        middleware=[BetaMiddleware(betas="f")],
    )
    with betas("c", "a"):
        client.beta.messages.create(**ASK, betas=["x"])
        client.messages.create(**ASK)
    client.messages.create(**ASK)
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert [b.get("anthropic_beta") for b in bodies] == [["x", "f", "c", "a"], ["f", "c", "a"], ["f"]]
    assert [r.url.path for r in recorder.requests] == ["/model/claude-test/invoke"] * 3
    for request in recorder.requests:
        assert_sigv4_valid(request)


@pytest.mark.usefixtures("aws_env")
async def test_bedrock_async_betas_land_in_the_signed_body() -> None:
    recorder = AsyncRecorder()
    client = AsyncAnthropicBedrock(
        **BEDROCK,
        http_client=STACK.AsyncClient(transport=STACK.MockTransport(recorder.handle)),
        middleware=[BetaMiddleware()],
    )
    async with betas("c", "a"):
        await client.messages.create(**ASK)
    await client.messages.create(**ASK)
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert [b.get("anthropic_beta") for b in bodies] == [["c", "a"], None]
    assert recorder.sent == ["c,a", None]
    for request in recorder.requests:
        assert_sigv4_valid(request)


@pytest.mark.usefixtures("aws_env")
def test_bedrock_default_header_joins_the_body() -> None:
    recorder = Recorder()
    client = anthropic.AnthropicBedrock(
        **BEDROCK,
        default_headers={HEADER: "d"},
        http_client=STACK.Client(transport=STACK.MockTransport(recorder)),
        middleware=[BetaMiddleware()],
    )
    with betas("a"):
        client.messages.create(**ASK)
    assert json.loads(recorder.requests[0].content)["anthropic_beta"] == ["d", "a"]
    assert_sigv4_valid(recorder.requests[0])


def bedrock_client(kind: str, recorder: AsyncRecorder, *middleware: Any, **options: Any) -> Any:
    if kind == "sync":
        http: Any = STACK.Client(transport=STACK.MockTransport(recorder))
        return anthropic.AnthropicBedrock(**BEDROCK, http_client=http, middleware=list(middleware), **options)
    http = STACK.AsyncClient(transport=STACK.MockTransport(recorder.handle))
    return AsyncAnthropicBedrock(**BEDROCK, http_client=http, middleware=list(middleware), **options)


# Each case: the call's arguments, the context, the body's anthropic_beta sent.
EXTRA_BODY_CASES = [
    pytest.param({"extra_body": {"anthropic_beta": ["y"]}}, ("a",), ["y", "a"], id="extra-then-context"),
    pytest.param(
        {"betas": ["x"], "extra_body": {"anthropic_beta": ["y"]}},
        ("a",),
        ["y", "x", "a"],
        id="with-call-betas",
    ),
    pytest.param({"extra_body": {"anthropic_beta": ["y", "a"]}}, ("a", "b"), ["y", "a", "b"], id="each-once"),
    pytest.param(
        {"betas": ["a"], "extra_body": {"anthropic_beta": ["y"]}}, ("a",), ["y", "a"], id="header-has-it-all"
    ),
    pytest.param({"extra_body": {"anthropic_beta": ("y",)}}, ("a",), ["y", "a"], id="a-tuple"),
    pytest.param({"extra_body": {"anthropic_beta": ["y"]}}, (), ["y"], id="nothing-active"),
    pytest.param({"extra_body": {"anthropic_beta": "y"}}, ("a",), "y", id="not-a-list-untouched"),
    pytest.param({"extra_body": {"other": 1}}, ("a",), ["a"], id="other-extra-body"),
]


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(("call", "context", "body"), EXTRA_BODY_CASES)
async def test_bedrock_merges_with_extra_body(
    kind: str, call: dict[str, Any], context: tuple[str, ...], body: object
) -> None:
    recorder = AsyncRecorder()
    client = bedrock_client(kind, recorder, BetaMiddleware())
    with betas(context):
        await resolve(client.beta.messages.create(**ASK, **call))
    (request,) = recorder.requests
    assert json.loads(request.content)["anthropic_beta"] == body
    assert_sigv4_valid(request)
    assert call["extra_body"].get("anthropic_beta", ["y"])[0] == "y"  # the caller's own value is unchanged


@pytest.mark.usefixtures("aws_env")
def test_bedrock_alone_sends_extra_body_over_the_header() -> None:
    # Why the middleware merges into extra_body: its value wins over the header's names.
    recorder = AsyncRecorder()
    client = bedrock_client("sync", recorder)
    client.beta.messages.create(**ASK, betas=["x"], extra_body={"anthropic_beta": ["y"]})
    assert json.loads(recorder.requests[0].content)["anthropic_beta"] == ["y"]


def test_extra_body_names_merged_on_any_client() -> None:
    # The body field is Bedrock's, but a gateway behind base_url may read it: it stays in
    # step with the header wherever the caller put it.
    recorder = Recorder()
    client = sync_client(recorder, BetaMiddleware())
    with betas("a"):
        client.messages.create(**ASK, extra_body={"anthropic_beta": ["y"]})
    assert json.loads(recorder.requests[0].content)["anthropic_beta"] == ["y", "a"]
    assert recorder.sent == ["a"]


@pytest.mark.usefixtures("aws_env")
def test_a_transport_cannot_serve_bedrock() -> None:
    # Why docs/anthropic.md sends Bedrock users to the middleware: a transport runs after
    # the signature, so the body keeps the call's own betas and a changed header breaks it.
    recorder = Recorder()
    http_client = STACK.Client(transport=INTEGRATION.BetaTransport(STACK.MockTransport(recorder)))
    client: Any = anthropic.AnthropicBedrock(**BEDROCK, http_client=http_client)
    with betas("a"):
        client.beta.messages.create(**ASK, betas=["x"])
    (request,) = recorder.requests
    assert json.loads(request.content)["anthropic_beta"] == ["x"]
    assert request.headers[HEADER] == "x,a"
    signed, matches = sigv4_signed(request)
    assert HEADER in signed
    assert not matches


# Vertex keeps the betas in the header.

VERTEX: dict[str, Any] = {"region": "us-east5", "project_id": "test-project", "access_token": "test-token"}


def test_vertex_betas_in_the_header() -> None:
    recorder = Recorder()
    # Any: the SDK's annotations reject `beta.messages.create` on this client, which it serves.
    client: Any = anthropic.AnthropicVertex(
        **VERTEX,
        http_client=STACK.Client(transport=STACK.MockTransport(recorder)),
        middleware=[BetaMiddleware(betas="f")],
    )
    with betas("a"):
        client.beta.messages.create(**ASK, betas=["x"])
    client.messages.create(**ASK)
    assert recorder.sent == ["x,f,a", "f"]
    assert recorder.requests[0].url.path.endswith("/models/claude-test:rawPredict")
    assert recorder.requests[0].headers["authorization"] == "Bearer test-token"
    assert "anthropic_beta" not in json.loads(recorder.requests[0].content)


async def test_vertex_async_betas_in_the_header() -> None:
    recorder = AsyncRecorder()
    client = AsyncAnthropicVertex(
        **VERTEX,
        http_client=STACK.AsyncClient(transport=STACK.MockTransport(recorder.handle)),
        middleware=[BetaMiddleware()],
    )
    async with betas("a", "b"):
        await client.messages.create(**ASK)
    assert recorder.sent == ["a,b"]


# Bad input


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("", "''"),
        ("a b", "'a b'"),
        ("a,b", "'a,b'"),
        (["ok", None], "None"),
        (5, "5"),
        (b"files", "b'files'"),
    ],
)
def test_bad_betas_raise(bad: Any, shown: str) -> None:
    with pytest.raises(InvalidBetaError, match=rf"invalid beta name {shown}"):
        BetaMiddleware(betas=bad)


def test_betas_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        BetaMiddleware("a")  # type: ignore[call-arg]


def test_repr_and_validation_against_the_sdk() -> None:
    middleware = BetaMiddleware(betas=["a", "b", "a"])
    assert repr(middleware) == "BetaMiddleware(betas=['a', 'b'])"
    # The SDK checks middleware when a client is built: this one is sync- and async-capable.
    sync_client(Recorder(), middleware)
    async_client(AsyncRecorder(), middleware)


# Importing beta_middleware.anthropic: the ImportError names the real cause.

BLOCK = """
import sys, types

class Block:  # as if these modules were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Block())
"""
# An SDK from before the middleware API (0.107 and older): no APIRequest, no Middleware.
OLD_SDK = """
import sys, types
sdk = types.ModuleType("anthropic")
sdk.__path__, sdk.__version__ = [], "0.100.0"
base = types.ModuleType("anthropic._base_client")
base.BaseClient = object
sys.modules.update({"anthropic": sdk, "anthropic._base_client": base})
"""
IMPORT = """
try:
    import beta_middleware.anthropic
except ImportError as exc:
    print(exc)
else:
    print("imported")
"""


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param(
            BLOCK.format(blocked={"anthropic"}),
            "beta_middleware.anthropic needs the 'anthropic' package, which is not installed; "
            "install it with: pip install 'beta-middleware[anthropic]'",
            id="not-installed",
        ),
        pytest.param(
            "import sys; sys.modules['anthropic'] = None",
            "beta_middleware.anthropic needs the 'anthropic' package, which is not installed; "
            "install it with: pip install 'beta-middleware[anthropic]'",
            id="blocked",
        ),
        pytest.param(
            BLOCK.format(blocked={STACK.__name__}),
            "beta_middleware.anthropic could not import the anthropic SDK, which is installed: "
            f"No module named '{STACK.__name__}' (a broken installation or a missing dependency of the SDK; "
            "reinstall it with: pip install --force-reinstall 'anthropic>=0.108')",
            id="dependency-missing",
        ),
        pytest.param(
            OLD_SDK,
            "anthropic 0.100.0 has no middleware API; beta_middleware.anthropic needs anthropic >= 0.108: "
            "pip install 'anthropic>=0.108' - or, keeping this SDK, use beta_middleware.httpx on its "
            "http_client: anthropic.Anthropic(http_client=beta_middleware.httpx.instrument("
            "anthropic.DefaultHttpxClient()))",
            id="sdk-too-old",
        ),
    ],
)
def test_the_import_error_names_its_cause(setup: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", setup + IMPORT], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == expected


def test_the_import_error_messages() -> None:
    # The same messages, built in this process (the subprocesses above raise them).
    missing = ModuleNotFoundError("No module named 'anthropic'", name="anthropic")
    assert "pip install 'beta-middleware[anthropic]'" in anthropic_integration._import_failed(missing)
    broken = ImportError("cannot import name 'X' from 'anthropic._types'", name="anthropic._types")
    assert "which is installed: cannot import name 'X'" in anthropic_integration._import_failed(broken)
    old = types.ModuleType("anthropic")
    assert "anthropic (of unknown version) has no middleware API" in anthropic_integration._no_middleware(old)


def test_the_stack_is_the_one_the_sdk_uses() -> None:
    # Told from the SDK's own DefaultHttpxClient; the other stack is never imported.
    assert anthropic_integration.STACK is STACK
    assert issubclass(anthropic.DefaultHttpxClient, STACK.Client)
    other = "httpx" if STACK.__name__ == "httpx2" else "httpx2"
    code = f"import sys, beta_middleware.anthropic; print({other!r} in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
    fake = types.ModuleType("anthropic")
    fake.__version__ = "0.0.0"  # type: ignore[attr-defined]
    fake.DefaultHttpxClient = type("DefaultHttpxClient", (), {})  # type: ignore[attr-defined]
    with pytest.raises(
        ImportError, match=r"anthropic 0\.0\.0: its DefaultHttpxClient is built on no HTTP Client"
    ):
        anthropic_integration._stack_of(fake)


# Through the real loopback server


def test_loopback_sync(server: Server) -> None:
    middleware = [BetaMiddleware(betas="f")]
    client = anthropic.Anthropic(api_key="test-key", base_url=server.url, middleware=middleware)
    with client:
        with betas("a"):
            own: anthropic.RequestOptions = {"headers": {HEADER: "own"}}
            response = client.post("/echo", cast_to=STACK.Response, body={}, options=own)
        assert response.json()[HEADER] == "own,f,a"
        assert response.request.headers[HEADER] == "own,f,a"
        client.post("/echo", cast_to=STACK.Response, body={})
    assert server.betas == ["own,f,a", "f"]


async def test_loopback_async(server: Server) -> None:
    client = AsyncAnthropic(api_key="test-key", base_url=server.url, middleware=[BetaMiddleware()])

    async def call(i: int) -> str:
        async with betas(f"task-{i}"):
            response = await client.post("/echo", cast_to=STACK.Response, body={})
            value: str = response.json()[HEADER]
            return value

    async with client:
        assert await asyncio.gather(*(call(i) for i in range(10))) == [f"task-{i}" for i in range(10)]
    assert sorted(map(str, server.betas)) == sorted(f"task-{i}" for i in range(10))


@pytest.mark.usefixtures("aws_env")
def test_loopback_bedrock(server: Server) -> None:
    # with_middleware here, on the loopback URL: anthropic 1.0's Bedrock copy() drops http_client.
    plain = anthropic.AnthropicBedrock(**BEDROCK, base_url=server.url)
    client = plain.with_middleware(BetaMiddleware())
    with client, betas("a", "b"):
        response = client.messages.with_raw_response.create(**ASK)
    assert response.status_code == 200
    (received,) = server.received
    assert received.path == "/model/claude-test/invoke"
    assert json.loads(received.body)["anthropic_beta"] == ["a", "b"]
    assert received.beta == "a,b"


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_loopback_bedrock_extra_body(server: Server, kind: str) -> None:
    # A real Bedrock client over a socket: the event hook sees the request as signed and
    # sent, the server what arrived.
    sent: list[Any] = []

    def record(request: Any) -> None:
        sent.append(request)

    async def arecord(request: Any) -> None:
        sent.append(request)

    options: dict[str, Any] = {**BEDROCK, "base_url": server.url, "middleware": [BetaMiddleware(betas="f")]}
    call: dict[str, Any] = {**ASK, "betas": ["x"], "extra_body": {"anthropic_beta": ["y"]}}
    if kind == "sync":
        http: Any = STACK.Client(event_hooks={"request": [record]})
        # Any: the SDK's annotations reject `beta.messages.create` on this client, which it serves.
        client: Any = anthropic.AnthropicBedrock(**options, http_client=http)
        with client, betas("a"):
            client.beta.messages.create(**call)
    else:
        http = STACK.AsyncClient(event_hooks={"request": [arecord]})
        aclient: Any = AsyncAnthropicBedrock(**options, http_client=http)
        async with aclient, betas("a"):
            await aclient.beta.messages.create(**call)
    (received,) = server.received
    assert received.path == "/model/claude-test/invoke"
    assert json.loads(received.body)["anthropic_beta"] == ["y", "x", "f", "a"]
    (request,) = sent
    assert request.content == received.body
    assert_sigv4_valid(request)


def test_the_demo_shows_the_middleware() -> None:
    out = io.StringIO()
    assert main(out) == 0
    rows = collect()[1]
    for stack in ("sdk middleware", "sdk middleware async"):
        assert stack in out.getvalue()
        got = [(step, received) for name, step, received in rows if name == stack]
        assert len(got) == 6
        assert all(received == step.expected for step, received in got)


def test_hosts_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(TypeError) as info:
        BetaMiddleware(hosts=["api.anthropic.com"])  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("BetaMiddleware() takes no hosts=: an SDK client sends every request")
    assert (
        f"beta_middleware.{anthropic_stack()}.instrument(anthropic.DefaultHttpxClient(), hosts=[...])"
        in message
    )
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'beta'$"):
        BetaMiddleware(beta="files-api-2025-04-14")  # type: ignore[arg-type]


def anthropic_stack() -> str:
    from beta_middleware.anthropic import STACK

    return STACK.__name__
