from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from beta_middleware import HEADER, InvalidBetaError, betas
from beta_middleware.requests import BetaAdapter

from .server import Server

API = "https://api.anthropic.com/v1/messages"


def session_with(adapter: HTTPAdapter, prefix: str = "https://") -> requests.Session:
    session = requests.Session()
    session.mount(prefix, adapter)
    return session


# --- through `responses` ------------------------------------------------------------


@responses.activate
def test_context_betas_are_visible_to_responses() -> None:
    responses.get(API)
    with betas("a-1", "b-1"):
        session_with(BetaAdapter()).get(API)
    assert responses.calls[0].request.headers[HEADER] == "a-1,b-1"


@responses.activate
def test_merge_order_session_request_fixed_context() -> None:
    responses.get(API)
    session = session_with(BetaAdapter(betas=["fixed-1", "ctx-1"]))
    session.headers[HEADER] = "session-1"
    with betas("ctx-1", "ctx-2"):
        response = session.get(API, headers={HEADER: "request-1, fixed-1"})
    # requests lets the request's header override the session's: the adapter merges what it is given.
    assert responses.calls[0].request.headers[HEADER] == "request-1,fixed-1,ctx-1,ctx-2"
    assert response.request.headers[HEADER] == "request-1,fixed-1,ctx-1,ctx-2"


@responses.activate
def test_session_header_is_kept() -> None:
    responses.get(API)
    session = session_with(BetaAdapter())
    session.headers[HEADER] = "session-1"
    with betas("ctx-1"):
        session.get(API)
    assert responses.calls[0].request.headers[HEADER] == "session-1,ctx-1"


@responses.activate
def test_nothing_active_leaves_the_request_as_it_was() -> None:
    responses.get(API)
    session = session_with(BetaAdapter())
    session.get(API)
    session.get(API, headers={HEADER: "own , x"})
    assert HEADER not in responses.calls[0].request.headers
    assert responses.calls[1].request.headers[HEADER] == "own , x"


@responses.activate
def test_replace_scope_turns_context_betas_off_but_keeps_fixed() -> None:
    responses.get(API)
    session = session_with(BetaAdapter(betas="fixed-1"))
    with betas("ctx-1"), betas(replace=True):
        session.get(API)
    assert responses.calls[0].request.headers[HEADER] == "fixed-1"


@responses.activate
def test_bytes_header_value_from_the_caller_is_merged() -> None:
    responses.get(API)
    with betas("ctx-1"):
        session_with(BetaAdapter()).get(API, headers={HEADER: b"own-1"})
    assert responses.calls[0].request.headers[HEADER] == "own-1,ctx-1"


@responses.activate
def test_the_header_is_set_on_the_request_sent() -> None:
    # As HTTPAdapter.add_headers does: response.request is the request given, as sent.
    responses.get(API)
    session = session_with(BetaAdapter())
    prepared = session.prepare_request(requests.Request("GET", API, headers={HEADER: "own"}))
    with betas("ctx-1"):
        response = session.send(prepared)
    assert response.request is prepared
    assert prepared.headers[HEADER] == "own,ctx-1"


@responses.activate
def test_a_request_sent_again_merges_once() -> None:
    responses.get(API)
    session = session_with(BetaAdapter())
    prepared = session.prepare_request(requests.Request("GET", API, headers={HEADER: "own"}))
    with betas("ctx-1"):
        session.send(prepared)
        session.send(prepared)
    assert [call.request.headers[HEADER] for call in responses.calls] == ["own,ctx-1"] * 2


@pytest.mark.parametrize("own", [None, "own-1", b"own-1"])
def test_the_callers_value_is_back_when_sending_raises(own: str | bytes | None) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = session_with(BetaAdapter(max_retries=0), "http://")
    headers = {} if own is None else {HEADER: own}
    prepared = session.prepare_request(requests.Request("GET", f"http://127.0.0.1:{port}/", headers=headers))
    with betas("ctx-1"), pytest.raises(requests.ConnectionError) as info:
        session.send(prepared)
    assert info.value.request is prepared
    assert prepared.headers.get(HEADER) == own  # as it was, type included


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.anthropic.com/x", True),
        ("https://API.ANTHROPIC.com/x", True),
        ("https://proxy.example.com/x", True),
        ("https://a.b.example.com:8443/x", True),
        ("https://example.com/x", False),
        ("https://other.org/x", False),
    ],
)
@responses.activate
def test_hosts_exact_wildcard_and_case(url: str, sent: bool) -> None:
    responses.get(url)
    session = session_with(BetaAdapter(betas="fixed-1", hosts=["api.anthropic.com", "*.example.com"]))
    with betas("ctx-1"):
        session.get(url, headers={HEADER: "own-1"})
    assert responses.calls[0].request.headers[HEADER] == ("own-1,fixed-1,ctx-1" if sent else "own-1")


def test_bad_input_is_refused_before_anything_is_built() -> None:
    with pytest.raises(InvalidBetaError, match=r"'bad name'"):
        BetaAdapter(betas=["ok", "bad name"])
    with pytest.raises(ValueError, match=r"'https://x'"):
        BetaAdapter(hosts=["https://x"])


def test_httpadapter_arguments_are_taken() -> None:
    retry = Retry(total=3, status_forcelist=[503])
    adapter = BetaAdapter(pool_connections=2, pool_maxsize=5, max_retries=retry, pool_block=True, betas="f")
    assert adapter.max_retries is retry
    assert adapter._pool_maxsize == 5
    assert adapter._pool_connections == 2
    assert adapter._pool_block is True
    assert BetaAdapter(max_retries=4).max_retries.total == 4


# --- through a real server on 127.0.0.1 ----------------------------------------------


def test_real_server_receives_the_merged_header(server: Server) -> None:
    session = session_with(BetaAdapter(betas="fixed-1"), "http://")
    session.headers[HEADER] = "session-1"
    with betas("ctx-1"):
        response = session.get(server.url_for("/echo"))
    assert response.json()[HEADER] == "session-1,fixed-1,ctx-1"
    assert server.received[0].betas == ["session-1,fixed-1,ctx-1"]  # one header line


def test_urllib3_retry_keeps_the_header_on_every_attempt(server: Server) -> None:
    retry = Retry(total=3, status_forcelist=[503], backoff_factor=0, respect_retry_after_header=False)
    session = session_with(BetaAdapter(max_retries=retry), "http://")
    with betas("ctx-1"):
        response = session.get(server.url_for("/fail/2/retry"))
    assert response.status_code == 200
    assert server.betas == ["ctx-1", "ctx-1", "ctx-1"]


def test_redirect_leaving_the_hosts_through_the_same_adapter(server: Server) -> None:
    session = session_with(BetaAdapter(betas="fixed-1", hosts=["127.0.0.1"]), "http://")
    target = server.url_for("/echo", host="localhost")
    with betas("ctx-1"):
        response = session.get(server.url_for(f"/redirect?to={target}"), headers={HEADER: "own-1"})
    assert response.status_code == 200
    assert [(r.host.split(":")[0], r.beta) for r in server.received] == [
        ("127.0.0.1", "own-1,fixed-1,ctx-1"),
        ("localhost", "own-1"),
    ]
    assert response.history[0].request.headers[HEADER] == "own-1,fixed-1,ctx-1"


def test_redirect_leaving_through_another_adapter(server: Server) -> None:
    session = requests.Session()
    session.mount("http://127.0.0.1", BetaAdapter(betas="fixed-1"))
    session.mount("http://localhost", HTTPAdapter())
    target = server.url_for("/echo", host="localhost")
    with betas("ctx-1"):
        session.get(server.url_for(f"/redirect?to={target}"))
    assert server.betas == ["fixed-1,ctx-1", None]


@pytest.mark.parametrize("own", [None, "own-1", b"own-1"])
def test_a_redirect_gives_the_caller_its_value_back(server: Server, own: str | bytes | None) -> None:
    session = session_with(BetaAdapter(), "http://")
    headers = {} if own is None else {HEADER: own}
    url = server.url_for(f"/redirect?to={server.url_for('/echo')}")
    prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
    with betas("ctx-1"):
        response = session.send(prepared, allow_redirects=False)
    sent = "own-1,ctx-1" if own else "ctx-1"
    assert response.is_redirect
    assert response.request is not prepared  # a copy: requests builds the next hop from `prepared`
    assert response.request.headers[HEADER] == sent
    assert prepared.headers.get(HEADER) == own
    with betas("ctx-2"):
        followed = session.send(response.next) if response.next else None
    assert followed is not None
    assert server.betas == [sent, "own-1,ctx-2" if own else "ctx-2"]


def test_redirect_within_the_hosts_keeps_the_betas(server: Server) -> None:
    session = session_with(BetaAdapter(hosts=["127.0.0.1", "localhost"]), "http://")
    target = server.url_for("/echo", host="localhost")
    with betas("ctx-1"):
        session.get(server.url_for(f"/redirect?to={target}&code=307"), headers={HEADER: "own-1"})
    assert server.betas == ["own-1,ctx-1", "own-1,ctx-1"]


def test_pickled_session_keeps_working(server: Server) -> None:
    session = session_with(BetaAdapter(betas="fixed-1", hosts=["127.0.0.1"], max_retries=2), "http://")
    with betas("warm-cache"):
        session.get(server.url_for("/echo"))
    restored = pickle.loads(pickle.dumps(session))
    adapter = restored.get_adapter(server.url)
    assert isinstance(adapter, BetaAdapter)
    assert adapter.max_retries.total == 2
    with betas("ctx-1"):
        restored.get(server.url_for("/echo"))
    restored.get(server.url_for("/echo", host="localhost"))
    assert server.betas == ["fixed-1,warm-cache", "fixed-1,ctx-1", None]


def test_streamed_response_is_not_read_ahead(server: Server) -> None:
    session = session_with(BetaAdapter(), "http://")
    with betas("ctx-1"), session.get(server.url_for("/stream"), stream=True, timeout=10) as response:
        assert not server.stream_finished.is_set()  # the body's end has not even been sent
        chunks = response.iter_content(chunk_size=None)
        assert next(chunks) == b"first"
        server.release.set()
        assert b"".join(chunks) == b"second"
    assert server.betas == ["ctx-1"]


def test_streamed_upload_reaches_the_server_whole(server: Server) -> None:
    def body() -> Iterator[bytes]:
        yield b"x" * 1000
        yield b"y" * 24

    session = session_with(BetaAdapter(), "http://")
    with betas("ctx-1"):
        response = session.post(server.url_for("/echo"), data=body())
    assert response.json() == {HEADER: "ctx-1", "body": 1024}
