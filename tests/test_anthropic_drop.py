"""`BetaMiddleware(drop_rejected=True)` with the anthropic SDK's real client classes.

Unit tests answer through the `MockTransport` of the SDK's stack (httpx2, or httpx on
0.x) the way the `/reject/SHAPE` route of tests/server.py does; the loopback tests send
to that route of the real server. Every test runs on the installed SDK line.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import pytest
from anthropic import APIRequest, AsyncAnthropic, AsyncAnthropicBedrock, Middleware

from beta_middleware import HEADER, betas
from beta_middleware.anthropic import BetaMiddleware

from .sdk_cases import FILES, LINE0, LINE_MARKS, STACK, resolve
from .server import REJECTIONS, Server
from .test_anthropic import (
    ASK,
    BEDROCK,
    MESSAGE,
    assert_sigv4_valid,
)

pytestmark = LINE_MARKS

Logged = Callable[[], list[logging.LogRecord]]

FIXED = "context-1m-2025-08-07"  # the middleware's betas=
CONTEXT = "interleaved-thinking-2025-05-14"  # from `with betas(...)`
OWN = "token-efficient-tools-2025-02-19"  # set by the caller
OTHER = "skills-2025-10-02"

INVALID = {
    "type": "error",
    "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
}
FILE = {
    "id": "file_1",
    "type": "file",
    "filename": "a.txt",
    "mime_type": "text/plain",
    "size_bytes": 4,
    "created_at": "2025-01-01T00:00:00Z",
}


def sent_names(request: STACK.Request) -> list[str]:
    """The betas a request carries: Bedrock's body field, else the header."""
    if request.url.path.startswith("/model/"):
        return list(json.loads(request.content).get("anthropic_beta") or [])
    return [n.strip() for line in request.headers.get_list(HEADER) for n in line.split(",") if n.strip()]


class Api:
    """A MockTransport handler: refuses `refused` names in the shape of tests/server.py."""

    def __init__(self, *refused: str, shape: str = "unsupported", also: tuple[str, ...] = ()) -> None:
        self.refused = refused
        self.shape = shape
        self.also = list(also)  # named in each rejection, though never sent
        self.requests: list[STACK.Request] = []

    def __call__(self, request: STACK.Request) -> STACK.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == "/v1/invalid":
            return STACK.Response(400, json=INVALID)  # a 4xx that is no beta rejection
        if request.url.path == "/v1/unavailable":
            return STACK.Response(503, json={"type": "error"})
        hit = [name for name in sent_names(request) if name in self.refused]
        if hit:
            body, *headers = REJECTIONS[self.shape](hit + self.also)
            return STACK.Response(400, json=body, headers=headers[0] if headers else None)
        return STACK.Response(200, json=FILE if request.url.path.endswith("/files") else MESSAGE)

    async def handle(self, request: STACK.Request) -> STACK.Response:
        return self(request)

    @property
    def sent(self) -> list[str | None]:
        return [",".join(sent_names(r)) or None for r in self.requests]


class Caller:
    """A sync or async client over `api`, with calls that can be awaited either way."""

    def __init__(self, kind: str, api: Api, *middleware: Any, **options: Any) -> None:
        self.sync = kind == "sync"
        if self.sync:
            http: Any = STACK.Client(transport=STACK.MockTransport(api))
            cls: Any = anthropic.Anthropic
        else:
            http = STACK.AsyncClient(transport=STACK.MockTransport(api.handle))
            cls = AsyncAnthropic
        options.setdefault("api_key", "test-key")
        options.setdefault("base_url", "https://api.anthropic.test")
        options.setdefault("max_retries", 0)
        self.client = cls(http_client=http, middleware=list(middleware), **options)

    async def run(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        return result if self.sync else await result

    async def create(self, **kwargs: Any) -> Any:
        return await self.run(self.client.beta.messages.create, **ASK, **kwargs)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Logged]:
    """The records of the `beta_middleware` logger so far."""
    with caplog.at_level(logging.WARNING, logger="beta_middleware"):
        yield lambda: [r for r in caplog.records if r.name == "beta_middleware"]


@pytest.mark.parametrize("rejected", [FIXED, CONTEXT])
@pytest.mark.parametrize("shape", ["unsupported", "unexpected"])
async def test_resends_once_without_the_rejected_added_name(
    kind: str, logged: Logged, rejected: str, shape: str
) -> None:
    api = Api(rejected, shape=shape)
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    caller = Caller(kind, api, middleware)
    kept = ",".join(n for n in (OWN, FIXED, CONTEXT) if n != rejected)
    with betas(CONTEXT):
        message = await caller.create(betas=[OWN])
        assert message.content[0].text == "ok"
        assert api.sent == [f"{OWN},{FIXED},{CONTEXT}", kept]  # the resend lacks only that name
        assert json.loads(api.requests[1].content) == json.loads(api.requests[0].content)
        await caller.create(betas=[OWN])
        assert api.sent[2:] == [kept]  # no 400 any more: the name is left off
    assert [(r.levelno, repr(rejected) in r.getMessage()) for r in logged()] == [(logging.WARNING, True)]
    assert middleware.rules.dropped == {rejected}


class Responses(Middleware):
    """Placed after BetaMiddleware: records each response the rest of the chain returns."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def handle(self, request: APIRequest, call_next: Any) -> Any:
        self.seen.append(call_next(request))
        return self.seen[-1]

    async def handle_async(self, request: APIRequest, call_next: Any) -> Any:
        self.seen.append(await call_next(request))
        return self.seen[-1]


@pytest.mark.parametrize("streaming", [False, True], ids=["read", "streamed"])
async def test_the_rejected_response_is_released_before_the_resend(kind: str, streaming: bool) -> None:
    api, inner = Api(FIXED), Responses()
    caller = Caller(kind, api, BetaMiddleware(betas=FIXED, drop_rejected=True), inner)
    messages = caller.client.messages
    if not streaming:
        await caller.run(messages.create, **ASK)
    elif caller.sync:
        with messages.with_streaming_response.create(**ASK) as response:
            assert response.http_request.headers.get(HEADER) is None  # the resend's request
            assert response.parse().content[0].text == "ok"
    else:
        async with messages.with_streaming_response.create(**ASK) as response:
            assert response.http_request.headers.get(HEADER) is None
            assert (await response.parse()).content[0].text == "ok"
    assert api.sent == [FIXED, None]
    first, second = inner.seen
    assert first.status_code == 400
    assert first.is_closed  # read to the end: its connection went back to the pool
    assert second.status_code == 200


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"call": {"betas": [OWN]}}, id="call-betas"),
        pytest.param({"call": {"extra_headers": {HEADER: OWN}}}, id="extra-headers"),
        pytest.param({"client": {"default_headers": {HEADER: OWN}}}, id="default-headers"),
    ],
)
async def test_caller_set_names_are_never_dropped(kind: str, logged: Logged, where: dict[str, Any]) -> None:
    api = Api(OWN)
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    caller = Caller(kind, api, middleware, **where.get("client", {}))
    for _ in range(2):
        with pytest.raises(anthropic.BadRequestError, match=f"Unsupported beta header: {OWN}"):
            await caller.create(**where.get("call", {}))
    assert api.sent == [f"{OWN},{FIXED}"] * 2  # never resent, never changed
    assert logged() == []
    assert middleware.rules.dropped == frozenset()


async def test_a_rejection_of_added_and_caller_set_names_is_not_resent(kind: str) -> None:
    api = Api(OWN, FIXED, shape="unexpected")
    caller = Caller(kind, api, BetaMiddleware(betas=FIXED, drop_rejected=True))
    with pytest.raises(anthropic.BadRequestError):
        await caller.create(betas=[OWN])
    assert api.sent == [f"{OWN},{FIXED}"]  # a resend would fail on the caller's name anyway
    with pytest.raises(anthropic.BadRequestError):
        await caller.create(betas=[OWN])
    assert api.sent[1:] == [OWN]  # but the added name is learnt


async def test_names_never_sent_do_not_prevent_the_resend(kind: str) -> None:
    api = Api(FIXED, shape="unexpected", also=("never-sent-2025-01-01",))
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    caller = Caller(kind, api, middleware)
    assert (await caller.create(betas=[OWN])).content[0].text == "ok"
    assert api.sent == [f"{OWN},{FIXED}", OWN]
    assert middleware.rules.dropped == {FIXED}
    api = Api(FIXED, OWN, shape="unexpected", also=("never-sent-2025-01-01",))
    caller = Caller(kind, api, BetaMiddleware(betas=OTHER, drop_rejected=True))
    with pytest.raises(anthropic.BadRequestError):
        await caller.create(betas=[OWN])
    assert api.sent == [f"{OWN},{OTHER}"]  # the caller's own name was sent and refused


async def test_never_more_than_one_resend(kind: str, logged: Logged) -> None:
    # `Unsupported beta header` names one name at a time: the resend meets the next one.
    api = Api(FIXED, OTHER)
    middleware = BetaMiddleware(betas=[FIXED, OTHER], drop_rejected=True)
    caller = Caller(kind, api, middleware)
    with pytest.raises(anthropic.BadRequestError, match=f"Unsupported beta header: {OTHER}"):
        await caller.create()
    assert api.sent == [f"{FIXED},{OTHER}", OTHER]
    await caller.create()
    assert api.sent[2:] == [None]  # both learnt: nothing left to send
    assert sorted(r.getMessage().split("'")[1] for r in logged()) == sorted([FIXED, OTHER])
    assert middleware.rules.dropped == {FIXED, OTHER}


async def test_bedrock_style_rejections_pass_through(kind: str, logged: Logged) -> None:
    api = Api(FIXED, shape="bedrock")
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    caller = Caller(kind, api, middleware)
    for _ in range(2):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await caller.create()
        assert caught.value.body == {"message": "invalid beta flag"}
    assert api.sent == [FIXED, FIXED]
    assert logged() == []
    assert middleware.rules.dropped == frozenset()


async def test_off_by_default(kind: str) -> None:
    api = Api(FIXED)
    middleware = BetaMiddleware(betas=FIXED)
    caller = Caller(kind, api, middleware)
    for _ in range(2):
        with pytest.raises(anthropic.BadRequestError):
            await caller.create()
    assert api.sent == [FIXED, FIXED]
    assert repr(middleware) == f"BetaMiddleware(betas=[{FIXED!r}])"
    assert repr(BetaMiddleware(drop_rejected=True)) == "BetaMiddleware(betas=[], drop_rejected=True)"


async def test_other_errors_are_not_resent(kind: str) -> None:
    api = Api(FIXED)
    caller = Caller(kind, api, BetaMiddleware(betas=FIXED, drop_rejected=True))
    # With cast_to=STACK.Response and a middleware, the SDK hands back a 4xx without raising.
    response = await caller.run(caller.client.post, "/v1/invalid", cast_to=STACK.Response, body={})
    assert response.status_code == 400
    assert response.json() == INVALID  # read for the check, still readable
    assert api.sent == [FIXED]


@pytest.mark.parametrize(("path", "status"), [("/v1/messages", 200), ("/v1/unavailable", 503)])
async def test_a_response_that_is_no_4xx_is_handed_back_as_it_came(kind: str, path: str, status: int) -> None:
    # The SDK's bare response (cast_to=STACK.Response), a success or a 5xx: nothing to look for
    api = Api(FIXED)
    caller = Caller(kind, api, BetaMiddleware(betas=OTHER, drop_rejected=True))
    response = await caller.run(caller.client.post, path, cast_to=STACK.Response, body={})
    assert response.status_code == status
    assert response.json() == (MESSAGE if status == 200 else {"type": "error"})
    assert api.sent == [OTHER]


class Overloaded(Api):
    """Answers the second request with a 529 the SDK retries."""

    def __call__(self, request: STACK.Request) -> STACK.Response:
        if len(self.requests) == 1:
            self.requests.append(request)
            return STACK.Response(529, json={"type": "error"}, headers={"retry-after-ms": "1"})
        return super().__call__(request)


async def test_an_sdk_retry_after_the_resend_leaves_the_name_off(kind: str) -> None:
    # The middleware runs once per attempt: the SDK's retry starts from the call's own
    # request again, and the learnt name stays off it.
    api = Overloaded(FIXED)
    caller = Caller(kind, api, BetaMiddleware(betas=FIXED, drop_rejected=True), max_retries=1)
    await caller.create()
    assert api.sent == [FIXED, None, None]
    assert [r.headers["x-stainless-retry-count"] for r in api.requests] == ["0", "0", "1"]


# Bodies: JSON and bytes are sent again, a stream is not.


async def test_a_generator_upload_is_not_replayed(kind: str) -> None:
    api = Api(FIXED)
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    caller = Caller(kind, api, middleware)

    def chunks() -> Iterator[bytes]:
        yield b"{"
        yield b"}"

    async def achunks() -> AsyncIterator[bytes]:
        yield b"{"
        yield b"}"

    body = chunks() if caller.sync else achunks()
    response = await caller.run(caller.client.post, "/v1/upload", cast_to=STACK.Response, content=body)
    assert response.status_code == 400  # the original response
    assert api.sent == [FIXED]
    assert api.requests[0].content == b"{}"
    assert middleware.rules.dropped == {FIXED}  # later requests still leave it off
    response = await caller.run(caller.client.post, "/v1/upload", cast_to=STACK.Response, content=b"{}")
    assert response.status_code == 200
    assert api.sent[1:] == [None]


async def test_bytes_content_is_replayed(kind: str) -> None:
    api = Api(FIXED)
    caller = Caller(kind, api, BetaMiddleware(betas=FIXED, drop_rejected=True))
    response = await caller.run(caller.client.post, "/v1/upload", cast_to=STACK.Response, content=b"data")
    assert response.status_code == 200
    assert [(r.headers.get(HEADER), r.content) for r in api.requests] == [(FIXED, b"data"), (None, b"data")]


class Pipe(io.RawIOBase):
    """A file that can be read once, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


@pytest.mark.parametrize(
    ("make", "replayed"),
    [
        pytest.param(lambda: ("a.txt", b"data", "text/plain"), True, id="bytes"),
        pytest.param(lambda: ("a.txt", io.BytesIO(b"data"), "text/plain"), True, id="seekable-file"),
        pytest.param(lambda: ("a.txt", Pipe(b"data"), "text/plain"), False, id="pipe"),
    ],
)
async def test_file_uploads(kind: str, make: Any, replayed: bool) -> None:
    # A seekable file is rewound by httpx2 before it is sent, as for the SDK's own retries.
    api = Api(CONTEXT)
    caller = Caller(kind, api, BetaMiddleware(drop_rejected=True))
    files = caller.client.beta.files
    with betas(CONTEXT):
        if replayed:
            uploaded = await caller.run(files.upload, file=make(), betas=[OWN])
            assert uploaded.id == "file_1"
        else:
            with pytest.raises(anthropic.BadRequestError):
                await caller.run(files.upload, file=make(), betas=[OWN])
    own = f"{OWN},{FILES}" if LINE0 else OWN  # anthropic 0.x adds the Files API beta itself
    assert api.sent == [f"{own},{CONTEXT}", own][: 2 if replayed else 1]
    for request in api.requests:
        assert b'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\ndata\r\n' in request.content


# Bedrock: the names are in the signed body; a resend is built and signed anew.


@pytest.mark.usefixtures("aws_env")
async def test_bedrock_named_rejection_resends_a_signed_body(kind: str) -> None:
    api = Api(CONTEXT)
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    if kind == "sync":
        client: Any = anthropic.AnthropicBedrock(
            **BEDROCK, http_client=STACK.Client(transport=STACK.MockTransport(api)), middleware=[middleware]
        )
        with betas(CONTEXT):
            client.messages.create(**ASK)
            client.messages.create(**ASK)
    else:
        aclient = AsyncAnthropicBedrock(
            **BEDROCK,
            http_client=STACK.AsyncClient(transport=STACK.MockTransport(api.handle)),
            middleware=[middleware],
        )
        async with betas(CONTEXT):
            await aclient.messages.create(**ASK)
            await aclient.messages.create(**ASK)
    assert api.sent == [f"{FIXED},{CONTEXT}", FIXED, FIXED]
    for request in api.requests:
        assert_sigv4_valid(request)


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    ("refused", "sent"),
    [
        pytest.param(CONTEXT, [f"{OWN},{FIXED},{CONTEXT}", f"{OWN},{FIXED}"], id="added-name-dropped"),
        pytest.param(OWN, [f"{OWN},{FIXED},{CONTEXT}"], id="extra-body-name-kept"),
    ],
)
async def test_bedrock_extra_body_names_are_the_callers(kind: str, refused: str, sent: list[str]) -> None:
    # A name the caller put in extra_body's anthropic_beta is never dropped; a resend keeps it.
    api = Api(refused)
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    options: dict[str, Any] = {**BEDROCK, "max_retries": 0, "middleware": [middleware]}
    client: Any
    if kind == "sync":
        client = anthropic.AnthropicBedrock(
            **options, http_client=STACK.Client(transport=STACK.MockTransport(api))
        )
    else:
        http = STACK.AsyncClient(transport=STACK.MockTransport(api.handle))
        client = AsyncAnthropicBedrock(**options, http_client=http)
    call = {**ASK, "extra_body": {"anthropic_beta": [OWN]}}
    with betas(CONTEXT):
        if refused == OWN:
            with pytest.raises(anthropic.BadRequestError):
                await resolve(client.messages.create(**call))
        else:
            await resolve(client.messages.create(**call))
    assert api.sent == sent
    assert middleware.rules.dropped == (frozenset() if refused == OWN else {CONTEXT})
    for request in api.requests:
        assert_sigv4_valid(request)


@pytest.mark.usefixtures("aws_env")
def test_bedrock_invalid_beta_flag_passes_through(logged: Logged) -> None:
    api = Api(FIXED, shape="bedrock")
    client = anthropic.AnthropicBedrock(
        **BEDROCK,
        max_retries=0,
        http_client=STACK.Client(transport=STACK.MockTransport(api)),
        middleware=[BetaMiddleware(betas=FIXED, drop_rejected=True)],
    )
    with pytest.raises(anthropic.BadRequestError, match="invalid beta flag"):
        client.messages.create(**ASK)
    assert api.sent == [FIXED]
    assert logged() == []


# Through the real loopback server


@pytest.mark.parametrize("shape", ["unsupported", "unexpected"])
def test_loopback_sync(server: Server, logged: Logged, shape: str) -> None:
    middleware = BetaMiddleware(betas=[FIXED, OTHER], drop_rejected=True)
    client = anthropic.Anthropic(
        api_key="test-key",
        base_url=server.url_for(f"/reject/{shape}"),
        default_query={"betas": FIXED},
        middleware=[middleware],
    )
    own: anthropic.RequestOptions = {"headers": {HEADER: OWN}}
    with client, betas(CONTEXT):
        first = client.post("/v1/messages", cast_to=STACK.Response, body={}, options=own)
        assert first.json()[HEADER] == f"{OWN},{OTHER},{CONTEXT}"
        assert first.request.headers[HEADER] == f"{OWN},{OTHER},{CONTEXT}"
        client.post("/v1/messages", cast_to=STACK.Response, body={}, options=own)
    assert server.betas == [f"{OWN},{FIXED},{OTHER},{CONTEXT}"] + [f"{OWN},{OTHER},{CONTEXT}"] * 2
    assert [json.loads(r.body) for r in server.received] == [{}] * 3
    assert len(logged()) == 1


async def test_loopback_async(server: Server, logged: Logged) -> None:
    client = AsyncAnthropic(
        api_key="test-key",
        base_url=server.url_for("/reject/unexpected"),
        default_query={"betas": f"{FIXED},{CONTEXT},{OWN}"},
        middleware=[BetaMiddleware(betas=FIXED, drop_rejected=True)],
        max_retries=0,
    )
    async with client:
        async with betas(CONTEXT, OTHER):
            response = await client.post("/v1/messages", cast_to=STACK.Response, body={})
        assert response.json()[HEADER] == OTHER
        own: anthropic.RequestOptions = {"headers": {HEADER: OWN}}
        refused = await client.post("/v1/messages", cast_to=STACK.Response, body={}, options=own)
        assert refused.status_code == 400
        assert f"`{OWN}`" in refused.json()["error"]["message"]
    assert server.betas == [f"{FIXED},{CONTEXT},{OTHER}", OTHER, OWN]
    assert sorted(r.getMessage().split("'")[1] for r in logged()) == sorted([FIXED, CONTEXT])


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(("shape", "resent"), [("unsupported", True), ("bedrock", False)])
def test_loopback_bedrock(server: Server, shape: str, resent: bool) -> None:
    # with_middleware: anthropic 1.0's Bedrock copy() drops http_client (see test_anthropic).
    plain = anthropic.AnthropicBedrock(
        **BEDROCK,
        base_url=server.url_for(f"/reject/{shape}"),
        default_query={"betas": CONTEXT},
        max_retries=0,
    )
    middleware = BetaMiddleware(betas=FIXED, drop_rejected=True)
    with plain.with_middleware(middleware) as client, betas(CONTEXT):
        if resent:
            assert client.messages.with_raw_response.create(**ASK).status_code == 200
        else:
            with pytest.raises(anthropic.BadRequestError, match="invalid beta flag"):
                client.messages.create(**ASK)
    bodies = [json.loads(r.body)["anthropic_beta"] for r in server.received]
    assert bodies == ([[FIXED, CONTEXT], [FIXED]] if resent else [[FIXED, CONTEXT]])
    assert middleware.rules.dropped == ({CONTEXT} if resent else frozenset())


async def test_loopback_streamed_rejection_is_read_and_released(server: Server, kind: str) -> None:
    # A real stream (MockTransport answers are read at once): the rejected answer is read
    # to its end, so its connection is free for the resend.
    inner = Responses()
    options: dict[str, Any] = {
        "api_key": "test-key",
        "base_url": server.url_for("/reject/unsupported"),
        "default_query": {"betas": FIXED},
        "middleware": [BetaMiddleware(betas=FIXED, drop_rejected=True), inner],
        "max_retries": 0,
    }
    if kind == "sync":
        with (
            anthropic.Anthropic(**options) as client,
            client.messages.with_streaming_response.create(**ASK) as response,
        ):
            assert json.loads(response.read())[HEADER] is None
    else:
        async with (
            AsyncAnthropic(**options) as aclient,
            aclient.messages.with_streaming_response.create(**ASK) as aresponse,
        ):
            assert json.loads(await aresponse.read())[HEADER] is None
    assert server.betas == [FIXED, None]
    first, second = inner.seen
    assert (first.status_code, first.is_closed) == (400, True)
    assert second.status_code == 200


# Hostile 4xx bodies: the middleware reads at most 64 KiB of a streamed one, never resends,
# and the SDK gets the whole body to make its error from - never an exception of ours.


class Released(Middleware):
    """Placed before BetaMiddleware: notes whether the server was still holding the body back
    when the middleware returned, then lets the server send the rest."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.held: list[bool] = []

    def _returned(self) -> None:
        self.held.append(not self.server.stream_finished.is_set())
        self.server.release.set()

    def handle(self, request: APIRequest, call_next: Any) -> Any:
        result = call_next(request)
        self._returned()
        return result

    async def handle_async(self, request: APIRequest, call_next: Any) -> Any:
        result = await call_next(request)
        self._returned()
        return result


MIB = 1 << 20


@pytest.mark.parametrize("streaming", [False, True], ids=["read", "streamed"])
@pytest.mark.parametrize(
    ("kind", "size"),
    [("huge", 64 * MIB), ("gzip", 64 * MIB), ("deep", 30_000), ("endless", 16 * MIB)],
)
async def test_hostile_rejections_reach_the_sdk_whole(
    server: Server, kind: str, size: int, streaming: bool, logged: Logged
) -> None:
    released = Released(server)
    options: dict[str, Any] = {
        "api_key": "test-key",
        "base_url": server.url_for(f"/hostile/{kind}"),
        "default_query": {"betas": FIXED, "size": str(size)},
        "middleware": [released, BetaMiddleware(betas=FIXED, drop_rejected=True)],
        "max_retries": 0,
    }
    if not streaming:
        server.release.set()  # the SDK reads a body it does not stream before the middleware sees it
    client = anthropic.Anthropic(**options)

    def call() -> None:
        if streaming:
            with client.messages.with_streaming_response.create(**ASK):
                pass
        else:
            client.messages.create(**ASK)

    with client, pytest.raises(anthropic.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400
    assert len(caught.value.response.content) > (30_000 if kind == "deep" else size)
    if streaming and kind == "endless":
        assert released.held == [True]  # the middleware returned while the server held the rest
    assert server.betas == [FIXED]  # no rejection within 64 KiB: not resent
    assert logged() == []


@pytest.mark.parametrize("kind", ["huge", "endless"])
async def test_hostile_rejections_reach_the_async_sdk_whole(server: Server, kind: str) -> None:
    released = Released(server)
    client = AsyncAnthropic(
        api_key="test-key",
        base_url=server.url_for(f"/hostile/{kind}"),
        default_query={"betas": FIXED, "size": str(16 * MIB)},
        middleware=[released, BetaMiddleware(betas=FIXED, drop_rejected=True)],
        max_retries=0,
    )
    async with client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.with_streaming_response.create(**ASK).__aenter__()
    assert len(caught.value.response.content) > 16 * MIB
    if kind == "endless":
        assert released.held == [True]
    assert server.betas == [FIXED]
