from __future__ import annotations

import json
import pickle
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from beta_middleware import HEADER, InvalidBetaError, betas
from beta_middleware.requests import BetaAdapter

from .server import CHAINS, Server, chain_hosts, expected_hops

API = "https://api.anthropic.com/v1/messages"


def session_with(adapter: HTTPAdapter, prefix: str = "https://") -> requests.Session:
    session = requests.Session()
    session.mount(prefix, adapter)
    return session


class KeywordsOnly(HTTPAdapter):
    """An adapter taking `send`'s options by keyword only, as test doubles do; answers 200."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str | None, dict[str, object]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
        value = request.headers.get(HEADER)
        self.seen.append((value if isinstance(value, str) or value is None else value.decode(), kwargs))
        response = requests.Response()
        response.status_code = 200
        response.request = request
        return response


class BetaOverKeywordsOnly(BetaAdapter, KeywordsOnly):  # type: ignore[misc]  # send differs on purpose
    """BetaAdapter whose `super().send` is such an adapter's."""


def test_the_wrapped_send_is_given_its_options_by_keyword() -> None:
    adapter = BetaOverKeywordsOnly(betas="f-1")
    session = session_with(adapter)
    session.trust_env = False  # verify and proxies as given, not from the environment
    options: dict[str, object] = {"stream": False, "timeout": 7, "verify": True, "cert": None, "proxies": {}}
    session.get(API, timeout=7)
    with betas("a-1"):
        session.get(API, timeout=7)
    with betas(replace=True):
        session_with(BetaOverKeywordsOnly()).get(API, timeout=7)  # nothing to add
    assert adapter.seen == [("f-1", options), ("f-1,a-1", options)]


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
    # what HTTPAdapter makes of the same arguments (`__getstate__`: what it pickles)
    plain = requests.adapters.HTTPAdapter(2, 5, retry, True).__getstate__()
    assert {k: v for k, v in adapter.__getstate__().items() if k != "rules"} == plain
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


# --- a request sent again, and chains of redirect hops -----------------------------------


def recorded(seen: list[str | None], refuse: frozenset[str] | set[str] = frozenset()) -> None:
    """Answer every https:// request with `responses`: 400 rejecting a name of `refuse`, else 200."""

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        raw = request.headers.get(HEADER)
        value = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        seen.append(value)
        hit = [n for n in str(value or "").split(",") if n in refuse]
        if hit:
            error = {"type": "invalid_request_error", "message": f"Unsupported beta header: {hit[0]}"}
            return 400, {}, json.dumps({"type": "error", "error": error})
        return 200, {}, "{}"

    for method in (responses.GET, responses.POST):
        responses.add_callback(method, re.compile("https://.*"), callback=callback)


@pytest.mark.parametrize("own", [None, "own-1", b"own-1"])
@responses.activate
def test_a_request_sent_again_starts_from_what_the_caller_set(own: str | bytes | None) -> None:
    seen: list[str | None] = []
    recorded(seen)
    session = session_with(BetaAdapter())
    headers = {} if own is None else {HEADER: own}
    prepared = session.prepare_request(requests.Request("GET", API, headers=headers))
    with betas("a"):
        session.send(prepared)
    session.send(prepared)
    with betas("b"):
        session.send(prepared)
    with betas("a"), betas("c"):
        session.send(prepared)
    with betas("own-1"):  # after a send that added names: nothing new to the caller's own
        session.send(prepared)
    session.send(prepared)
    text = None if own is None else "own-1"
    prefix = f"{text}," if text else ""
    assert seen == [
        f"{prefix}a",
        text,
        f"{prefix}b",
        f"{prefix}a,c",
        "own-1",
        text,
    ]
    assert prepared.headers.get(HEADER) == own  # as the caller set it, type included


@responses.activate
def test_a_copy_of_a_sent_request_takes_what_was_sent_as_the_callers() -> None:
    # A documented limit (docs/requests.md): `PreparedRequest.copy()` carries no note of
    # what a send added, so a copy made after a send takes the merged header as its own.
    seen: list[str | None] = []
    recorded(seen)
    session = session_with(BetaAdapter())
    prepared = session.prepare_request(requests.Request("GET", API, headers={HEADER: "own-1"}))
    with betas("a"):
        session.send(prepared)
    session.send(prepared.copy())  # after the send: the copy's header is what was sent
    session.send(prepared)  # the request itself starts from what the caller set
    assert seen == ["own-1,a", "own-1,a", "own-1"]


@responses.activate
def test_a_request_sent_again_to_a_host_outside_the_hosts() -> None:
    seen: list[str | None] = []
    recorded(seen)
    session = session_with(BetaAdapter(betas="fixed-1", hosts="api.anthropic.com"))
    prepared = session.prepare_request(requests.Request("GET", API))
    with betas("a"):
        session.send(prepared)
        prepared.prepare_url("https://other.example/", {})
        session.send(prepared)
    assert seen == ["fixed-1,a", None]


@responses.activate
def test_a_value_the_caller_sets_between_sends_is_the_callers() -> None:
    seen: list[str | None] = []
    recorded(seen)
    session = session_with(BetaAdapter())
    prepared = session.prepare_request(requests.Request("GET", API))
    with betas("a"):
        session.send(prepared)
    prepared.headers[HEADER] = "mine-0"
    session.send(prepared)  # nothing active: what the caller set now
    with betas("a"):
        session.send(prepared)
    prepared.headers[HEADER] = "mine-1"
    with betas("b"):
        session.send(prepared)
    session.send(prepared)
    with betas("a"):
        session.send(prepared)
    prepared.headers[HEADER] = "mine-1,a"  # exactly what was sent: taken as ours
    session.send(prepared)
    assert seen == ["a", "mine-0", "mine-0,a", "mine-1,b", "mine-1", "mine-1,a", "mine-1"]


@responses.activate
def test_stale_names_are_neither_sent_nor_taken_for_the_callers() -> None:
    seen: list[str | None] = []
    refuse: set[str] = set()
    recorded(seen, refuse)
    adapter = BetaAdapter(drop_rejected=True)
    session = session_with(adapter)
    prepared = session.prepare_request(requests.Request("POST", API, data=b"{}"))
    with betas("old-1"):
        assert session.send(prepared).status_code == 200
    refuse.add("old-1")  # the API retires it
    with betas("new-1"):
        assert session.send(prepared).status_code == 200
    with betas("old-1", "new-1"):
        assert session.send(prepared).status_code == 200  # dropped: it was ours, not the caller's
    session.send(prepared)
    assert seen == ["old-1", "new-1", "old-1,new-1", "new-1", None]
    assert adapter.rules.dropped == {"old-1"}


def test_real_server_a_request_sent_again(server: Server) -> None:
    session = session_with(BetaAdapter(betas="fixed-1"), "http://")
    prepared = session.prepare_request(requests.Request("GET", server.url_for("/echo")))
    with betas("a"):
        session.send(prepared)
    session.send(prepared)
    with betas("b"):
        session.send(prepared)
    assert server.betas == ["fixed-1,a", "fixed-1", "fixed-1,b"]


@pytest.mark.parametrize("code", [302, 307])
@pytest.mark.parametrize("own", [None, "own-1"])
@pytest.mark.parametrize("shape", CHAINS)
def test_real_chains_of_hops_in_and_out_of_the_hosts(
    server: Server, shape: str, own: str | None, code: int
) -> None:
    session = session_with(
        BetaAdapter(betas="fixed-1", hosts=["api.anthropic.com", "*.anthropic.com"]), "http://"
    )
    session.proxies = {"http": server.proxy}  # the server answers for every name
    headers = {} if own is None else {HEADER: own}
    prepared = session.prepare_request(
        requests.Request("GET", server.chain_url(chain_hosts(shape), code), headers=headers)
    )
    with betas("ctx-1"):
        response = session.send(prepared)
    with betas("ctx-2"):
        session.send(prepared)  # the same request again: its chain again, with ctx-2
    assert response.status_code == 200
    assert len(response.history) == len(shape) - 1
    assert server.hops == expected_hops(shape, own, "fixed-1,ctx-1") + expected_hops(
        shape, own, "fixed-1,ctx-2"
    )


@pytest.mark.parametrize("own", [None, "own-1"])
def test_real_chain_through_the_servers_own_names(server: Server, own: str | None) -> None:
    # No proxy: 127.0.0.1 is in the hosts, localhost is not; in, out, out, in, out.
    here, there = f"127.0.0.1:{server.port}", f"localhost:{server.port}"
    session = session_with(BetaAdapter(hosts="127.0.0.1"), "http://")
    headers = {} if own is None else {HEADER: own}
    with betas("ctx-1"):
        session.get(server.chain_url([here, there, there, here, there]), headers=headers)
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
@settings(max_examples=150, deadline=None)
def test_property_every_hop_of_every_send_carries_what_the_contract_says(
    shape: str, own: str | None, code: int, scopes: list[tuple[str, ...]]
) -> None:
    hops: list[tuple[str, str | None]] = []

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url or "")
        hops.append(
            (url.hostname or "", str(request.headers.get(HEADER)) if HEADER in request.headers else None)
        )
        rest = url.path.strip("/").split("/")[1:]
        if not rest:
            return 200, {}, ""
        return code, {"Location": f"https://{rest[0]}/chain/{'/'.join(rest[1:])}"}, ""

    session = session_with(BetaAdapter(betas="fixed-1", hosts=["api.anthropic.com", "*.anthropic.com"]))
    hosts = chain_hosts(shape)
    headers = {HEADER: own} if own else {}
    expected: list[tuple[str, str | None]] = []
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, re.compile("https://.*"), callback=callback)
        prepared = session.prepare_request(
            requests.Request("GET", f"https://{hosts[0]}/chain/{'/'.join(hosts[1:])}", headers=headers)
        )
        for names in scopes:
            with betas(*names):
                session.send(prepared)
            merged = ",".join(dict.fromkeys(n for n in (*(own or "").split(","), "fixed-1", *names) if n))
            expected += [(host, merged if c == "i" else own) for host, c in zip(hosts, shape, strict=True)]
    assert hops == expected


# --- hosts= entries, internationalised names, how errors and logs name the adapter --------


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
def test_a_host_entry_that_would_never_match_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid host") as info:
        BetaAdapter(hosts=["api.anthropic.com", bad])
    assert repr(bad) in str(info.value)


IDN = ("b\u00fccher.example", "xn--bcher-kva.example")


@pytest.mark.parametrize("given", [*IDN, "*.b\u00fccher.example", "*.xn--bcher-kva.example"])
@pytest.mark.parametrize("url_host", IDN)
@responses.activate
def test_internationalised_hosts_match_in_either_form(given: str, url_host: str) -> None:
    seen: list[str | None] = []
    recorded(seen)
    session = session_with(BetaAdapter(hosts=given))
    host = f"api.{url_host}" if given.startswith("*.") else url_host
    with betas("ctx-1"):
        session.get(f"https://{host}/v1")
        session.get("https://xn--bcher-kva.other/v1")
    assert seen == ["ctx-1", None]


@pytest.mark.parametrize("given", IDN)
def test_real_internationalised_host_through_the_server_as_proxy(server: Server, given: str) -> None:
    session = session_with(BetaAdapter(hosts=given), "http://")
    session.proxies = {"http": server.proxy}
    with betas("ctx-1"):
        session.get("http://b\u00fccher.example/echo")
        session.get("http://xn--bcher-kva.example/echo")
        session.get("http://m\u00fcnchen.example/echo")
    assert server.hops == [
        ("xn--bcher-kva.example", "ctx-1"),
        ("xn--bcher-kva.example", "ctx-1"),
        ("xn--mnchen-3ya.example", None),
    ]


@pytest.mark.parametrize("names", ["files-api-2025-04-14", ["a-1", "b-1"], ("a-1",)])
def test_beta_names_given_by_position_suggest_betas(names: object) -> None:
    with pytest.raises(TypeError, match="pool_connections") as info:
        BetaAdapter(names)  # type: ignore[arg-type]
    assert f"got {names!r}" in str(info.value)
    assert f"BetaAdapter(betas={names!r})" in str(info.value)


def test_repr_shows_the_settings() -> None:
    assert repr(BetaAdapter()) == "BetaAdapter(betas=[], hosts=None)"
    adapter = BetaAdapter(betas=["a", "b"], hosts=["*.x.com", "b\u00fccher.example"], drop_rejected=True)
    assert repr(adapter) == (
        "BetaAdapter(betas=['a', 'b'], hosts=['*.x.com', 'xn--bcher-kva.example'], drop_rejected=True)"
    )


@responses.activate
def test_a_dropped_beta_is_logged_naming_the_adapter(caplog: pytest.LogCaptureFixture) -> None:
    recorded([], {"old-1", "old-2"})
    adapter = BetaAdapter(betas="fixed-1", drop_rejected=True)
    session = session_with(adapter)
    restored = pickle.loads(pickle.dumps(session))
    copy = restored.get_adapter(API)
    assert copy is not adapter
    with caplog.at_level("WARNING", logger="beta_middleware"):
        with betas("old-1"):
            session.post(API, data=b"{}")
        del adapter, session  # the log names an adapter that is still there, not a dead one
        with betas("old-2"):
            restored.post(API, data=b"{}")
    assert [r.getMessage().rpartition(" of ")[2] for r in caplog.records] == [
        "BetaAdapter(betas=['fixed-1'], hosts=None, drop_rejected=True)"
    ] * 2
    assert copy.rules.dropped == {"old-2"}
