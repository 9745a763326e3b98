"""Bodies pass through every integration as they are: streamed, unread, unbuffered, untouched.

For each stack, over real sockets and with betas active (so the middleware does work):
- a generator upload reaches the server whole, and the middleware hands it on unread;
- a streamed download gives its first chunk while the server still holds back the rest;
- error responses (4xx/5xx) arrive exactly as they do without the middleware.
"""

from __future__ import annotations

import functools
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
import requests

from beta_middleware import HEADER, betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware.requests import BetaAdapter

from .messages_server import MessagesServer
from .server import Server, gzip_bomb

FILES = "files-api-2025-04-14"
CHUNKS = [b"x" * 65536, b"y" * 1000, b"z" * 70000]
STACKS = ["requests", "httpx", "httpx async", "httpx2", "httpx2 async"]
HTTPX = {"httpx": (httpx, bm_httpx), "httpx2": (httpx2, bm_httpx2)}


class Upload:
    """A generator body that records how many chunks were pulled, and when."""

    def __init__(self) -> None:
        self.pulled = 0
        self.pulled_when_sent: int | None = None  # seen by the transport under the middleware

    def sync(self) -> Iterator[bytes]:
        for chunk in CHUNKS:
            self.pulled += 1
            yield chunk

    async def async_(self) -> AsyncIterator[bytes]:
        for chunk in self.sync():
            yield chunk


class _ProbeAdapter(requests.adapters.HTTPAdapter):
    """Sits under `BetaAdapter` (by MRO) and records what the middleware handed on."""

    upload: Upload

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.upload.pulled_when_sent = self.upload.pulled
        return super().send(request, *args, **kwargs)


class _ProbedBetaAdapter(BetaAdapter, _ProbeAdapter):
    pass


def probed_transport(stack: Any, is_async: bool, upload: Upload) -> Any:
    """The stack's real HTTP transport, recording the upload's state when it is reached."""
    if is_async:

        class AsyncProbe(stack.AsyncHTTPTransport):  # type: ignore[misc]
            async def handle_async_request(self, request: Any) -> Any:
                upload.pulled_when_sent = upload.pulled
                return await super().handle_async_request(request)

        return AsyncProbe()

    class Probe(stack.HTTPTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            upload.pulled_when_sent = upload.pulled
            return super().handle_request(request)

    return Probe()


@pytest.mark.parametrize("stack", STACKS)
async def test_streamed_upload_arrives_whole_and_unread(server: Server, stack: str) -> None:
    upload = Upload()
    url = server.url_for("/echo")
    with betas(FILES):
        if stack == "requests":
            adapter = _ProbedBetaAdapter()
            adapter.upload = upload
            with requests.Session() as session:
                session.mount("http://", adapter)
                status = session.post(url, data=upload.sync(), timeout=10).status_code
        else:
            name, _, mode = stack.partition(" ")
            module, integration = HTTPX[name]
            inner = probed_transport(module, bool(mode), upload)
            if mode:
                async with module.AsyncClient(transport=integration.AsyncBetaTransport(inner)) as client:
                    status = (await client.post(url, content=upload.async_())).status_code
            else:
                with module.Client(transport=integration.BetaTransport(inner)) as client:
                    status = client.post(url, content=upload.sync()).status_code
    assert status == 200
    assert upload.pulled_when_sent == 0  # the middleware read nothing
    assert upload.pulled == len(CHUNKS)
    (received,) = server.received
    assert received.body == b"".join(CHUNKS)
    assert received.beta == FILES


@pytest.mark.parametrize("stack", STACKS)
async def test_streamed_download_is_not_buffered(server: Server, stack: str) -> None:
    # /stream sends "first", then waits for `release` before "second": reading "first"
    # while the server still holds the rest shows nothing waited for the whole body.
    url = server.url_for("/stream")
    with betas(FILES):
        if stack == "requests":
            with requests.Session() as session:
                session.mount("http://", BetaAdapter())
                with session.get(url, stream=True, timeout=10) as response:
                    chunks = response.iter_content(chunk_size=None)
                    first = next(chunks)
                    finished_early = server.stream_finished.is_set()
                    server.release.set()
                    rest = b"".join(chunks)
        else:
            name, _, mode = stack.partition(" ")
            module, integration = HTTPX[name]
            if mode:
                async with (
                    module.AsyncClient(transport=integration.AsyncBetaTransport(), timeout=10) as client,
                    client.stream("GET", url) as response,
                ):
                    achunks = response.aiter_raw()
                    first = await achunks.__anext__()
                    finished_early = server.stream_finished.is_set()
                    server.release.set()
                    rest = b"".join([chunk async for chunk in achunks])
            else:
                with (
                    module.Client(transport=integration.BetaTransport(), timeout=10) as client,
                    client.stream("GET", url) as response,
                ):
                    chunks = response.iter_raw()
                    first = next(chunks)
                    finished_early = server.stream_finished.is_set()
                    server.release.set()
                    rest = b"".join(chunks)
    assert (first, finished_early, rest) == (b"first", False, b"second")
    assert server.betas == [FILES]


async def send_error(
    stack: str, url: str, status: int, middleware: bool
) -> tuple[int, bytes, dict[str, str]]:
    """POST to the Messages API server asking for `status`; the parts of the answer to compare."""
    headers = {"x-test-status": str(status), "content-type": "application/json"}
    name, _, mode = stack.partition(" ")
    if name == "requests":
        with requests.Session() as session:
            if middleware:
                session.mount("http://", BetaAdapter())
            response: Any = session.post(url, data=b"{}", headers=headers, timeout=10)
    elif mode:
        module, integration = HTTPX[name]
        transport = integration.AsyncBetaTransport() if middleware else module.AsyncHTTPTransport()
        async with module.AsyncClient(transport=transport, timeout=10) as client:
            response = await client.post(url, content=b"{}", headers=headers)
    else:
        module, integration = HTTPX[name]
        transport = integration.BetaTransport() if middleware else module.HTTPTransport()
        with module.Client(transport=transport, timeout=10) as client:
            response = client.post(url, content=b"{}", headers=headers)
    got = {key.lower(): value for key, value in response.headers.items() if key.lower() != "date"}
    return response.status_code, response.content, got


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
@pytest.mark.parametrize("stack", STACKS)
async def test_error_responses_pass_through_untouched(
    messages_api: MessagesServer, stack: str, status: int
) -> None:
    url = f"{messages_api.url}/v1/messages"
    plain = await send_error(stack, url, status, middleware=False)
    with betas(FILES):
        through = await send_error(stack, url, status, middleware=True)
    assert through[0] == status
    assert through == plain
    assert messages_api.betas == [None, FILES]


# drop_rejected on hostile 4xx bodies: at most 64 KiB is read to look for a rejection, and
# the caller gets the whole body, unread, as the server sent it - never an exception of ours.

MIB = 1 << 20
HUGE = 16 * MIB


class Caller:
    """One stack with `drop_rejected=True`: sends, and reads the body as its caller would."""

    def __init__(self, stack: str, bare: bool = False) -> None:
        self.name, _, mode = stack.partition(" ")
        self.is_async, self.bare = bool(mode), bare
        if self.name == "requests":
            self.client: Any = requests.Session()
            if not bare:
                self.client.mount("http://", BetaAdapter(betas=FILES, drop_rejected=True))
        else:
            module, integration = HTTPX[self.name]
            if bare:  # the stack alone, sending what the integration would
                self.client = (module.AsyncClient if self.is_async else module.Client)(
                    headers={HEADER: FILES}, timeout=30
                )
            elif self.is_async:
                transport = integration.AsyncBetaTransport(betas=FILES, drop_rejected=True)
                self.client = module.AsyncClient(transport=transport, timeout=30)
            else:
                self.client = module.Client(
                    transport=integration.BetaTransport(betas=FILES, drop_rejected=True), timeout=30
                )

    async def send(self, url: str, stream: bool) -> Any:
        if self.name == "requests":
            headers = {HEADER: FILES} if self.bare else None
            return self.client.post(url, data=b"{}", stream=stream, timeout=30, headers=headers)
        request = self.client.build_request("POST", url, content=b"{}")
        if self.is_async:
            return await self.client.send(request, stream=stream)
        return self.client.send(request, stream=stream)

    async def body(self, response: Any) -> bytes:
        """The decoded body, read in small chunks as a streaming caller would."""
        if self.name == "requests":
            return b"".join(response.iter_content(4096))
        if self.is_async:
            return b"".join([chunk async for chunk in response.aiter_bytes(4096)])
        return b"".join(response.iter_bytes(4096))

    async def close(self, response: Any = None) -> None:
        if self.is_async:
            if response is not None:
                await response.aclose()
            await self.client.aclose()
        else:
            if response is not None:
                response.close()
            self.client.close()


def rejection_of(name: str) -> bytes:
    message = f"Unsupported beta header: {name}"
    return json.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    ).encode()


@functools.cache
def blank_rejection(size: int) -> bytes:
    """What `huge` and `gzip` send: the rejection, then `size` blanks (made once, not per case)."""
    return rejection_of(FILES) + b" " * size


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize(
    ("kind", "size", "expected"),
    [
        # 256 times what is read to look: big enough that buffering it would show in the
        # peak below, and reading it whole in the test costs less than the 64 MiB first tried
        ("huge", HUGE, lambda: blank_rejection(HUGE)),
        ("gzip", HUGE, lambda: blank_rejection(HUGE)),
        ("deep", 30_000, lambda: b"[" * 30_000 + b"]" * 30_000),  # within 64 KiB: json.loads recurses
        ("deep", 100_000, lambda: b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=["huge", "gzip-bomb", "deep", "deeper"],
)
@pytest.mark.parametrize("stack", STACKS)
async def test_hostile_rejections_are_handed_back_whole(
    server: Server, stack: str, kind: str, size: int, expected: Any, stream: bool
) -> None:
    # Each body starts with a rejection of the name sent: reading all of it would resend.
    caller = Caller(stack)
    url = server.url_for(f"/hostile/{kind}?betas={FILES}&size={size}")
    if stream:  # only then is the peak asserted: tracing slows reading a whole huge body
        tracemalloc.start()
    try:
        response = await caller.send(url, stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    try:
        assert response.status_code == 400
        if stream:
            assert peak < HUGE / 4  # what the middleware read to look: not the huge body
        assert await caller.body(response) == expected()
    finally:
        await caller.close(response)
    assert server.betas == [FILES]  # not resent: no rejection within 64 KiB


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize("stack", STACKS)
async def test_an_endless_rejection_returns_before_its_end(server: Server, stack: str, stream: bool) -> None:
    # /hostile/endless sends a MiB, then waits for `release` before the rest: the response
    # comes back while the server still holds it (it would wait 10 s otherwise).
    caller = Caller(stack)
    url = server.url_for(f"/hostile/endless?betas={FILES}&size={16 * MIB}")
    if not stream:
        server.release.set()  # the caller itself reads it all
    response = await caller.send(url, stream)
    try:
        assert response.status_code == 400
        if stream:
            assert not server.stream_finished.is_set()
            server.release.set()
        assert await caller.body(response) == rejection_of(FILES) + b" " * (16 * MIB)
    finally:
        await caller.close(response)
    assert server.betas == [FILES]


@pytest.mark.parametrize("stack", STACKS)
async def test_a_streamed_hostile_body_closed_unread_releases_the_server(server: Server, stack: str) -> None:
    caller = Caller(stack)
    response = await caller.send(server.url_for(f"/hostile/endless?betas={FILES}&size={64 * MIB}"), True)
    assert response.status_code == 400
    await caller.close(response)  # never read: the connection is closed, the server stops
    server.release.set()
    assert server.stream_finished.wait(10)
    assert server.closed_early.is_set()


LIMIT = 64 * 1024


@pytest.mark.parametrize(
    ("kind", "blanks", "resent"),
    [
        ("huge", 0, True),
        ("huge", LIMIT - len(rejection_of(FILES)), True),  # the whole body within 64 KiB: read
        ("huge", LIMIT - len(rejection_of(FILES)) + 1, False),  # one byte more: no rejection
        ("gzip", 0, True),  # decoded, a small piece at a time
        ("gzip", LIMIT - len(rejection_of(FILES)), True),
        ("gzip", LIMIT - len(rejection_of(FILES)) + 1, False),  # 64 KiB + 1 decoded: no rejection
    ],
    ids=["small", "at-the-limit", "over-the-limit", "gzip", "gzip-at-the-limit", "gzip-over-the-limit"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize("stack", STACKS)
async def test_a_rejection_is_read_from_at_most_64_kib(
    server: Server, stack: str, stream: bool, kind: str, blanks: int, resent: bool
) -> None:
    caller = Caller(stack)
    response = await caller.send(
        server.url_for(f"/hostile/{kind}?betas={FILES}&size={blanks}&cookie=1"), stream
    )
    try:
        if resent:
            assert response.status_code == 200  # the echo of the resend
            assert json.loads(await caller.body(response))["anthropic-beta"] is None
        else:
            assert response.status_code == 400
            assert await caller.body(response) == rejection_of(FILES) + b" " * blanks
        if caller.name == "requests" and not resent:  # the 4xx's cookie reached the session
            assert caller.client.cookies["seen"] == kind
    finally:
        await caller.close(response)
    assert server.betas == ([FILES, None] if resent else [FILES])


def test_requests_raw_reads_see_the_body_as_sent(server: Server) -> None:
    # `response.raw.read()` gives the undecoded bytes, as without the middleware
    with requests.Session() as session:
        session.mount("http://", BetaAdapter(betas=FILES, drop_rejected=True))
        url = server.url_for(f"/hostile/gzip?betas={FILES}&size={4 * MIB}")
        with session.post(url, data=b"{}", stream=True, timeout=30) as response:
            assert response.raw.read(10) == gzip_bomb(rejection_of(FILES), 4 * MIB)[:10]
            assert response.raw.read() == gzip_bomb(rejection_of(FILES), 4 * MIB)[10:]
        with session.post(url, data=b"{}", stream=True, timeout=30) as response:
            response.raw.decode_content = True
            assert response.raw.read() == rejection_of(FILES) + b" " * (4 * MIB)
    assert server.betas == [FILES, FILES]


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize("stack", STACKS)
async def test_a_body_that_does_not_decode_is_handed_back(server: Server, stack: str, stream: bool) -> None:
    # said to be gzip, but plain: no rejection, and the caller meets the stack's own error
    caller = Caller(stack)
    url = server.url_for(f"/hostile/not-gzip?betas={FILES}")
    errors = (requests.exceptions.ContentDecodingError, httpx.DecodingError, httpx2.DecodingError)
    if stream:
        response = await caller.send(url, stream)
        assert response.status_code == 400
        with pytest.raises(errors):
            await caller.body(response)
        await caller.close(response)
    else:
        with pytest.raises(errors):
            await caller.send(url, stream)  # the client reads the body: the same error as without us
        await caller.close()
    assert server.betas == [FILES]


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream"])
@pytest.mark.parametrize("stack", STACKS)
async def test_a_rejection_that_breaks_off_raises_what_the_stack_raises(
    server: Server, stack: str, stream: bool
) -> None:
    # The body stops within the 64 KiB looked at and the connection closes: the caller
    # meets the stack's own error, where the stack alone raises it - never one of ours.
    url = server.url_for(f"/hostile/cut?betas={FILES}&size={16 * 1024}")
    outcomes: list[tuple[str, type[BaseException] | None]] = []
    for bare in (True, False):
        caller = Caller(stack, bare=bare)
        response = None
        try:
            response = await caller.send(url, stream)
            await caller.body(response)
            outcomes.append(("none", None))
        except Exception as error:
            outcomes.append(("body" if response is not None else "send", type(error)))
        finally:
            await caller.close(response)
    if outcomes[0][1] is None:
        # urllib3 1.x does not hold a body to its Content-Length: to requests the body
        # came whole, and it holds a rejection, which is resent without the name
        assert stack == "requests", outcomes
        assert outcomes[1] == ("none", None)
        assert server.betas == [FILES, FILES, None]
    else:
        assert outcomes[0] == outcomes[1], outcomes
        assert outcomes[0][0] == ("body" if stream else "send")
        assert server.betas == [FILES, FILES]  # not resent: no whole rejection was read
