"""`drop_rejected=True` on every integration, against the loopback server."""

from __future__ import annotations

import gzip
import json
import logging
import pickle
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
import requests
import responses

from beta_middleware import HEADER, UnsupportedBetaError, betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware._core import drop as _drop
from beta_middleware._core.header import Rules
from beta_middleware.requests import BetaAdapter

from .server import Server

FIXED = "files-api-2025-04-14"  # the integration's betas=
CONTEXT = "context-1m-2025-08-07"  # from `with betas(...)`
OWN = "token-efficient-tools-2025-02-19"  # set by the caller on the request
OTHER = "skills-2025-10-02"
UNSENT = "never-sent-2025-01-01"  # named by a rejection, carried by no request

KINDS = ["requests", "httpx", "httpx async", "httpx2", "httpx2 async"]


class Client:
    """One integration object behind a uniform `send`; sync stacks are called directly."""

    def __init__(self, kind: str, **options: Any) -> None:
        self.kind = kind
        self.sync = "async" not in kind
        stack, module = {"httpx": (httpx, bm_httpx), "httpx2": (httpx2, bm_httpx2)}.get(
            kind.split()[0], (None, None)
        )
        if kind == "requests":
            self.adapter: Any = BetaAdapter(**options)
            self.client: Any = requests.Session()
            self.client.mount("http://", self.adapter)
        elif self.sync:
            self.adapter = module.BetaTransport(**options)  # type: ignore[union-attr]
            self.client = stack.Client(transport=self.adapter, timeout=10)  # type: ignore[union-attr]
        else:
            self.adapter = module.AsyncBetaTransport(**options)  # type: ignore[union-attr]
            self.client = stack.AsyncClient(transport=self.adapter, timeout=10)  # type: ignore[union-attr]

    async def send(self, url: str, own: str | None = None, body: Any = b"{}") -> Any:
        headers = {} if own is None else {HEADER: own}
        if self.kind == "requests":
            return self.client.post(url, headers=headers, data=body, timeout=10)
        if self.sync:
            return self.client.post(url, headers=headers, content=body)
        return await self.client.post(url, headers=headers, content=body)

    def upload(self) -> Any:
        """A body that can be read once: a generator."""
        if self.sync:

            def chunks() -> Iterator[bytes]:
                yield b"{"
                yield b"}"

            return chunks()

        async def achunks() -> AsyncIterator[bytes]:
            yield b"{"
            yield b"}"

        return achunks()

    async def close(self) -> None:
        if self.sync:
            self.client.close()
        else:
            await self.client.aclose()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make(kind: str) -> AsyncIterator[Any]:
    made: list[Client] = []

    def factory(**options: Any) -> Client:
        options.setdefault("betas", FIXED)
        options.setdefault("drop_rejected", True)
        made.append(Client(kind, **options))
        return made[-1]

    yield factory
    for client in made:
        await client.close()


@pytest.fixture
def warned(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """The messages logged on the `beta_middleware` logger."""
    messages: list[str] = []
    with caplog.at_level(logging.WARNING, logger="beta_middleware"):
        yield messages
        messages.extend(r.getMessage() for r in caplog.records if r.name == "beta_middleware")


def reject(server: Server, *names: str, shape: str = "unsupported") -> str:
    return server.url_for(f"/reject/{shape}?betas={','.join(names)}")


@pytest.mark.parametrize("rejected", [FIXED, CONTEXT])
@pytest.mark.parametrize("shape", ["unsupported", "unexpected"])
async def test_resends_once_without_the_rejected_added_name(
    server: Server, make: Any, caplog: pytest.LogCaptureFixture, rejected: str, shape: str
) -> None:
    client = make()
    url = reject(server, rejected, shape=shape)
    kept = ",".join(n for n in (OWN, FIXED, CONTEXT) if n != rejected)
    with caplog.at_level(logging.WARNING, logger="beta_middleware"), betas(CONTEXT):
        first = await client.send(url, own=OWN)
        assert first.status_code == 200
        assert server.betas == [f"{OWN},{FIXED},{CONTEXT}", kept]  # the resend lacks only that name
        assert server.received[1].body == b"{}"
        assert first.json()[HEADER] == kept
        third = await client.send(url, own=OWN)
        assert third.status_code == 200
        assert server.betas[2:] == [kept]  # no 400 any more: the name is left off
    logged = [r for r in caplog.records if r.name == "beta_middleware"]
    assert len(logged) == 1
    assert logged[0].levelno == logging.WARNING
    assert repr(rejected) in logged[0].getMessage()
    assert client.adapter.rules.dropped == {rejected}


async def test_the_caller_set_names_are_never_dropped(
    server: Server, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make()
    url = reject(server, OWN)
    with caplog.at_level(logging.WARNING, logger="beta_middleware"):
        for _ in range(2):
            response = await client.send(url, own=OWN)
            assert response.status_code == 400
            assert response.json()["error"]["message"] == f"Unsupported beta header: {OWN}"
    assert server.betas == [f"{OWN},{FIXED}"] * 2  # never resent, never changed
    assert not [r for r in caplog.records if r.name == "beta_middleware"]
    assert client.adapter.rules.dropped == frozenset()


async def test_a_rejection_of_added_and_caller_set_names_is_not_resent(server: Server, make: Any) -> None:
    client = make()
    url = reject(server, OWN, FIXED, shape="unexpected")
    assert (await client.send(url, own=OWN)).status_code == 400
    assert server.betas == [f"{OWN},{FIXED}"]  # a resend would fail on the caller's name anyway
    assert (await client.send(url, own=OWN)).status_code == 400
    assert server.betas[1:] == [OWN]  # but the added name is learnt


async def test_names_never_sent_do_not_prevent_the_resend(server: Server, make: Any) -> None:
    # "Unexpected value(s)" may list names the request did not carry: only the caller's stop a resend
    client = make()
    with betas(CONTEXT):
        response = await client.send(reject(server, FIXED, shape="unexpected") + f"&also={UNSENT}", own=OWN)
    assert response.status_code == 200
    assert server.betas == [f"{OWN},{FIXED},{CONTEXT}", f"{OWN},{CONTEXT}"]
    assert client.adapter.rules.dropped == {FIXED}


async def test_a_sent_caller_name_still_prevents_it_among_unsent_ones(server: Server, make: Any) -> None:
    client = make()
    url = reject(server, FIXED, OWN, shape="unexpected") + f"&also={UNSENT}"
    assert (await client.send(url, own=OWN)).status_code == 400
    assert server.betas == [f"{OWN},{FIXED}"]
    assert client.adapter.rules.dropped == {FIXED}


@pytest.mark.parametrize(
    ("rejected", "take"),
    [
        ((FIXED, UNSENT), {FIXED}),
        ((UNSENT, FIXED, CONTEXT), {FIXED, CONTEXT}),
        ((UNSENT,), set()),  # nothing of ours: a resend would change nothing
        ((FIXED, OWN), set()),  # the caller's own name: a resend would fail too
        ((OWN, UNSENT), set()),
        ((), set()),
    ],
)
def test_learn_takes_what_a_resend_must_lack(rejected: tuple[str, ...], take: set[str]) -> None:
    rules = Rules([FIXED, CONTEXT], drop_rejected=True)
    error = UnsupportedBetaError("refused", betas=rejected, status_code=400)
    mine = frozenset({FIXED, CONTEXT})
    assert _drop.learn([(rules, mine)], error, (f"{OWN}, {FIXED},{CONTEXT}",)) == take
    assert rules.dropped == mine.intersection(rejected)
    assert _drop.learn([(rules, mine)], None, (OWN,)) == frozenset()


async def test_a_streamed_upload_is_not_replayed(server: Server, make: Any) -> None:
    client = make()
    url = reject(server, FIXED)
    response = await client.send(url, body=client.upload())
    assert response.status_code == 400  # the original response
    assert server.betas == [FIXED]
    assert server.received[0].body == b"{}"
    again = await client.send(url)  # later requests still leave it off
    assert again.status_code == 200
    assert server.betas[1:] == [None]


async def test_bedrock_rejections_pass_through(server: Server, make: Any) -> None:
    client = make()
    url = reject(server, FIXED, shape="bedrock")
    for _ in range(2):
        response = await client.send(url)
        assert response.status_code == 400
        assert response.json() == {"message": "invalid beta flag"}  # read for the check, still readable
        assert response.elapsed.total_seconds() >= 0
    assert server.betas == [FIXED, FIXED]
    assert client.adapter.rules.dropped == frozenset()


async def test_never_more_than_one_resend(
    server: Server, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # `Unsupported beta header` names one name at a time: the resend meets the next one
    client = make(betas=[FIXED, OTHER])
    url = reject(server, FIXED, OTHER)
    with caplog.at_level(logging.WARNING, logger="beta_middleware"):
        first = await client.send(url)
        assert first.status_code == 400
        assert first.json()["error"]["message"] == f"Unsupported beta header: {OTHER}"
        assert server.betas == [f"{FIXED},{OTHER}", OTHER]
        assert (await client.send(url)).status_code == 200
        assert server.betas[2:] == [None]  # both learnt: nothing left to send
    logged = sorted(r.getMessage().split("'")[1] for r in caplog.records if r.name == "beta_middleware")
    assert logged == sorted([FIXED, OTHER])


async def test_all_names_of_one_rejection_are_dropped_together(server: Server, make: Any) -> None:
    client = make(betas=[FIXED, OTHER])
    with betas(CONTEXT):
        response = await client.send(reject(server, FIXED, CONTEXT, shape="unexpected"))
    assert response.status_code == 200
    assert server.betas == [f"{FIXED},{OTHER},{CONTEXT}", OTHER]


async def test_off_by_default(server: Server, make: Any) -> None:
    client = make(drop_rejected=False)
    for _ in range(2):
        assert (await client.send(reject(server, FIXED))).status_code == 400
    assert server.betas == [FIXED, FIXED]


async def test_drops_belong_to_one_integration_object(server: Server, make: Any) -> None:
    first, second = make(), make()
    assert (await first.send(reject(server, FIXED))).status_code == 200
    assert (await second.send(server.url_for("/echo"))).json()[HEADER] == FIXED
    assert (await first.send(server.url_for("/echo"))).json()[HEADER] is None


async def test_requests_without_added_names_are_left_alone(server: Server, make: Any) -> None:
    client = make(betas=(), hosts="example.com")
    with betas(CONTEXT):
        response = await client.send(reject(server, OWN), own=OWN)
    assert response.status_code == 400
    assert server.betas == [OWN]


def test_concurrent_rejections_log_once(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    session = requests.Session()
    session.mount("http://", BetaAdapter(betas=FIXED, drop_rejected=True, pool_maxsize=8))
    results: list[int] = []
    url = reject(server, FIXED)
    barrier = threading.Barrier(8, timeout=10)

    def call() -> None:
        barrier.wait()
        results.append(session.post(url, timeout=10).status_code)

    with caplog.at_level(logging.WARNING, logger="beta_middleware"), session:
        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert results == [200] * 8
    assert len([r for r in caplog.records if r.name == "beta_middleware"]) == 1
    assert len(server.received) <= 16  # at most one resend each


def test_rules_drop_is_thread_safe_and_reports_new_names() -> None:
    rules = Rules(FIXED, drop_rejected=True)
    new: list[tuple[str, ...]] = []
    barrier = threading.Barrier(8, timeout=10)

    def drop() -> None:
        barrier.wait()
        new.append(rules.drop([FIXED, OTHER]))

    threads = [threading.Thread(target=drop) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(new, key=len) == [()] * 7 + [(FIXED, OTHER)]
    assert rules.added().names == ()
    with betas(CONTEXT, OTHER):
        assert rules.added().names == (CONTEXT,)


def test_settings_survive_pickling_but_drops_are_learnt_anew() -> None:
    adapter = BetaAdapter(betas=FIXED, drop_rejected=True)
    adapter.rules.drop([FIXED])
    copy = pickle.loads(pickle.dumps(adapter))
    assert copy.rules.drop_rejected is True
    assert copy.rules == adapter.rules
    assert copy.rules.dropped == frozenset()
    assert "drop_rejected=True" in repr(copy.rules)


@pytest.mark.parametrize("module", [bm_httpx, bm_httpx2])
def test_instrument_takes_drop_rejected(server: Server, module: Any) -> None:
    stack = httpx if module is bm_httpx else httpx2
    with module.instrument(stack.Client(timeout=10), betas=FIXED, drop_rejected=True) as client:
        assert client.post(reject(server, FIXED)).status_code == 200
        assert server.betas == [FIXED, None]
        module.instrument(client, betas=FIXED, drop_rejected=True)  # the same settings: no change
        with pytest.raises(ValueError, match="already instrumented"):
            module.instrument(client, betas=FIXED)


# What the client gets back when the 4xx is not a beta rejection: a response it can read.


OVERLOADED = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: required"}}


@pytest.mark.parametrize("stack", [(httpx, bm_httpx), (httpx2, bm_httpx2)])
async def test_httpx_other_errors_stay_readable(stack: Any) -> None:
    base, module = stack
    transport = base.MockTransport(lambda request: base.Response(400, json=OVERLOADED))
    with base.Client(transport=module.BetaTransport(transport, betas=FIXED, drop_rejected=True)) as client:
        assert client.post("https://api.anthropic.com/v1/messages").json() == OVERLOADED
        with client.stream("POST", "https://api.anthropic.com/v1/messages") as streamed:
            assert json.loads(b"".join(streamed.iter_bytes())) == OVERLOADED
    atransport = base.MockTransport(lambda request: base.Response(400, json=OVERLOADED))
    wrapped = module.AsyncBetaTransport(atransport, betas=FIXED, drop_rejected=True)
    async with base.AsyncClient(transport=wrapped) as aclient:
        assert (await aclient.post("https://api.anthropic.com/v1/messages")).json() == OVERLOADED


@pytest.mark.parametrize("stack", [(httpx, bm_httpx), (httpx2, bm_httpx2)])
def test_httpx_compressed_rejections_are_read(stack: Any) -> None:
    base, module = stack
    sent: list[str | None] = []
    body = gzip.compress(json.dumps({"error": {"message": f"Unsupported beta header: {FIXED}"}}).encode())

    def handler(request: Any) -> Any:
        sent.append(request.headers.get(HEADER))
        if FIXED in (request.headers.get(HEADER) or ""):
            return base.Response(400, headers={"Content-Encoding": "gzip"}, content=body)
        return base.Response(200, json={"ok": True})

    wrapped = module.BetaTransport(base.MockTransport(handler), betas=FIXED, drop_rejected=True)
    with base.Client(transport=wrapped) as client:
        response = client.post("https://api.anthropic.com/v1/messages", json={})
    assert response.json() == {"ok": True}
    assert sent == [FIXED, None]
    # httpx sets `response.request` to the request it was given: the first send, as it went
    assert response.request.headers.get(HEADER) == FIXED


@responses.activate
def test_requests_other_errors_stay_readable() -> None:
    responses.post("https://api.anthropic.com/v1/messages", json=OVERLOADED, status=400)
    with requests.Session() as session:
        session.mount("https://", BetaAdapter(betas=FIXED, drop_rejected=True))
        response = session.post("https://api.anthropic.com/v1/messages", json={}, stream=True)
        assert b"".join(response.iter_content(7)) == json.dumps(OVERLOADED).encode()
    assert len(responses.calls) == 1


@responses.activate
def test_requests_file_uploads_are_not_replayed(tmp_path: Any) -> None:
    responses.post(
        "https://api.anthropic.com/v1/files",
        json={"error": {"message": f"Unsupported beta header: {FIXED}"}},
        status=400,
    )
    upload = tmp_path / "data.bin"
    upload.write_bytes(b"data")
    with requests.Session() as session, upload.open("rb") as file:
        session.mount("https://", BetaAdapter(betas=FIXED, drop_rejected=True))
        assert session.post("https://api.anthropic.com/v1/files", data=file).status_code == 400
    assert len(responses.calls) == 1


async def test_a_context_name_the_caller_also_set_is_never_dropped(server: Server, make: Any) -> None:
    # The context adds nothing the caller did not set: the rejection is the caller's to handle.
    client = make(betas=())
    with betas(OWN):
        response = await client.send(reject(server, OWN), own=OWN)
    assert response.status_code == 400
    assert server.betas == [OWN]
    assert client.adapter.rules.dropped == frozenset()


# Every send is recorded as it was sent: a resend is a new request object.


@responses.activate
@pytest.mark.parametrize("stream", [False, True])
def test_requests_the_resend_is_a_copy(stream: bool) -> None:
    url = "https://api.anthropic.com/v1/messages"
    rejected = {"error": {"message": f"Unsupported beta header: {FIXED}"}}
    responses.post(url, json=rejected, status=400)
    responses.post(url, json={"ok": True}, status=200)
    with requests.Session() as session, betas(CONTEXT):
        session.mount("https://", BetaAdapter(betas=FIXED, drop_rejected=True))
        response = session.post(url, json={}, stream=stream, headers={HEADER: OWN})
        assert response.json() == {"ok": True}
    first, second = responses.calls
    assert first.request is not second.request
    assert first.request.headers[HEADER] == f"{OWN},{FIXED},{CONTEXT}"  # as the first send carried it
    assert isinstance(first.response, requests.Response)
    assert first.response.request.headers[HEADER] == f"{OWN},{FIXED},{CONTEXT}"
    assert second.request.headers[HEADER] == f"{OWN},{CONTEXT}"
    assert response.request is second.request


@pytest.mark.parametrize("stack", [(httpx, bm_httpx), (httpx2, bm_httpx2)])
async def test_httpx_the_resend_is_a_new_request(stack: Any) -> None:
    base, module = stack
    seen: list[Any] = []  # the request objects the wrapped transport was given
    hooked: list[Any] = []  # and the one the client's request hook saw

    def handler(request: Any) -> Any:
        seen.append(request)
        if FIXED in (request.headers.get(HEADER) or ""):
            return base.Response(400, json={"error": {"message": f"Unsupported beta header: {FIXED}"}})
        return base.Response(200, json={"ok": True})

    async def ahandler(request: Any) -> Any:
        return handler(request)

    hooks = {"request": [hooked.append]}
    wrapped = module.BetaTransport(base.MockTransport(handler), betas=FIXED, drop_rejected=True)
    with base.Client(transport=wrapped, event_hooks=hooks) as client, betas(CONTEXT):
        assert client.post("https://api.anthropic.com/v1/messages", content=b"{}").json() == {"ok": True}

    async def ahook(request: Any) -> None:
        hooked.append(request)

    awrapped = module.AsyncBetaTransport(base.MockTransport(ahandler), betas=FIXED, drop_rejected=True)
    async with base.AsyncClient(transport=awrapped, event_hooks={"request": [ahook]}) as aclient:
        with betas(CONTEXT):
            response = await aclient.post("https://api.anthropic.com/v1/messages", content=b"{}")
        assert response.json() == {"ok": True}
    for first, second, hook in (seen[:2] + hooked[:1], seen[2:] + hooked[1:]):
        assert first is hook
        assert second is not first
        assert first.headers[HEADER] == f"{FIXED},{CONTEXT}"  # as the first send carried it
        assert second.headers[HEADER] == CONTEXT
        assert (first.method, first.url, first.content) == (second.method, second.url, second.content)
        assert first.extensions == second.extensions
        assert first.extensions is not second.extensions
