"""Bodies pass through every integration as they are: streamed, unread, unbuffered, untouched.

For each stack, over real sockets and with betas active (so the middleware does work):
- a generator upload reaches the server whole, and the middleware hands it on unread;
- a streamed download gives its first chunk while the server still holds back the rest;
- error responses (4xx/5xx) arrive exactly as they do without the middleware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
import requests

from beta_middleware import betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware.requests import BetaAdapter

from .messages_server import MessagesServer
from .server import Server

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
