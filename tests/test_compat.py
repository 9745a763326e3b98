"""Compat canaries: what this package relies on in other libraries beyond their public API.

Each test pins one reliance - a private attribute, or a behaviour no documentation
promises - on the releases its docstring names, and says what breaks if a release
changes it. A failure here names the reliance to rework; the behaviour tests elsewhere
would only show its symptom. Tests elsewhere assert behaviour only: the accessors they
need to look inside another library's objects are defined here, beside their pin.

The releases: the main environments (requests 2.34, urllib3 2.8, httpx 0.29, httpx2 2.16,
anthropic 2.16, CPython 3.10 to 3.13), the lowest the extras allow (`scripts/test --lane
lowest`: requests 2.26 with urllib3 1.26, httpx 0.26, httpx2 2.0) and the anthropic 0.x
line (`--lane anthropic0`, `anthropic0-oldest`: the newest 0.x, and 0.108 on httpx 0.25).
This module loads in each of those environments: a test needing a library that one lacks
is skipped there.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import threading
from typing import Any

import pytest

from beta_middleware import HEADER, betas, current_betas

from .server import Server

LOCAL = "127.0.0.1"

# On the SDK's 0.x line every canary is marked `anthropic0`: its environments (`-m anthropic0`)
# run them all, on their releases of httpx and the SDK.
SDK_INSTALLED = importlib.util.find_spec("anthropic") is not None
LINE0 = SDK_INSTALLED and importlib.metadata.version("anthropic").startswith("0.")
pytestmark = [pytest.mark.anthropic0] if LINE0 else []


def stack_module(name: str) -> Any:
    """The stack `name` (httpx or httpx2), or a skip where this environment lacks it."""
    return pytest.importorskip(name)


STACKS = [pytest.param("httpx", id="httpx"), pytest.param("httpx2", id="httpx2")]


# --- httpx and httpx2 ---------------------------------------------------------------------


def transport_and_mounts(client: Any) -> tuple[Any, dict[Any, Any]]:
    """An httpx or httpx2 client's own transport and its mounts (pattern -> transport or None).

    What `instrument()` wraps and `sends_through_ours()` looks at: no public name gives them.
    """
    return client._transport, dict(client._mounts)


@pytest.mark.parametrize("name", STACKS)
def test_a_client_keeps_its_transport_and_mounts_where_instrument_finds_them(name: str) -> None:
    """`Client._transport` and `Client._mounts` (`AsyncClient`'s too).

    Checked on httpx 0.25 to 0.29 and httpx2 2.0 to 2.16. If they move, `instrument()`
    wraps nothing (or fails), and an SDK client on an instrumented http_client is not seen
    to send through a layer of ours (see `Below`): the context's names would be added twice.
    """
    stack = stack_module(name)
    own, mounted = stack.MockTransport(lambda r: None), stack.MockTransport(lambda r: None)
    for kind in (stack.Client, stack.AsyncClient):
        client = kind(transport=own, mounts={"all://a.example": mounted, "all://b.example": None})
        transport, mounts = transport_and_mounts(client)
        assert transport is own
        assert {pattern.pattern: found for pattern, found in mounts.items()} == {
            "all://a.example": mounted,
            "all://b.example": None,
        }


@pytest.mark.parametrize("name", STACKS)
def test_the_stacks_transport_choice_is_called_and_its_answer_wrapped(
    server: Server, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Client._transport_for_url` (and `AsyncClient`'s): the one place httpx picks each hop's transport.

    `install()` patches it, calls the stack's own choice and wraps what it picked. Checked
    on httpx 0.25 to 0.29 and httpx2 2.0 to 2.16. If the method goes or takes other
    arguments, `install()` warns that it could not patch the stack, or requests go out
    without betas: this test fails first.
    """
    from beta_middleware import install

    stack = stack_module(name)
    # the stack's choice (here one that records its calls) is called, and its answer wrapped
    chosen: list[str] = []
    original = stack.Client._transport_for_url

    def _transport_for_url(self: Any, url: Any) -> Any:
        chosen.append(url.host)
        return original(self, url)

    monkeypatch.setattr(stack.Client, "_transport_for_url", _transport_for_url)
    with install(hosts=LOCAL), stack.Client() as client, betas("a"):
        assert client.get(server.url_for("/echo")).json()[HEADER] == "a"
        assert client.get(server.url_for("/echo", "localhost")).json()[HEADER] is None
    assert chosen == [LOCAL, "localhost"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-other": "1"},
        {HEADER: "h"},
        {"Anthropic-Beta": "h", "x-other": "1"},
        {"x-a": "1", "x-b": "2", "ANTHROPIC-BETA": "h,i"},
        {"anthropic-betas": "h", "x-anthropic-beta": "h"},
    ],
)
@pytest.mark.parametrize("name", STACKS)
def test_headers_keep_their_names_in_a_list_the_sdk_middleware_looks_through(
    name: str, headers: dict[str, str]
) -> None:
    """`Headers._list`: (raw name, lowercase name, value) tuples, read by `BetaMiddleware` per request.

    The SDK middleware asks whether the SDK's HTTP client's headers hold `anthropic-beta`
    before calling `Headers.get`, which raises and catches a `KeyError` when it is absent.
    Checked on httpx 0.25 to 0.29 and httpx2 2.0 to 2.16. Shaped otherwise, the look is
    skipped (anything else is asked through `get`, as the end of this test shows): no
    wrong header, a microsecond more per SDK request.
    """
    pytest.importorskip("anthropic")
    stack = stack_module(name)
    from beta_middleware import anthropic as integration

    real = stack.Headers(headers)
    assert integration._may_hold(real) is (HEADER in real)
    real[HEADER] = "later"
    assert integration._may_hold(real)
    del real[HEADER]
    assert integration._may_hold(real) is False
    # Anything shaped otherwise is asked through `get`.
    import types

    shape = types.SimpleNamespace
    for other in (shape(), shape(_list=()), shape(_list=[(b"x",)])):
        assert integration._may_hold(other)


# --- the anthropic SDK --------------------------------------------------------------------


def final_request_options(**options: Any) -> Any:
    """`anthropic._models.FinalRequestOptions(**options)`: what an `APIRequest` is built from.

    `APIRequest(options=...)` is public, its options' class is not exported: the tests
    that run the middleware outside a client build requests with this.
    """
    from anthropic._models import FinalRequestOptions

    return FinalRequestOptions(**options)


def test_an_api_request_is_built_from_final_request_options() -> None:
    """`anthropic._models.FinalRequestOptions`, as the tests build requests (`final_request_options`).

    Checked on anthropic 0.108, the newest 0.x and 2.16. If it moves, only the tests that
    run the middleware outside a client need the new path.
    """
    anthropic = pytest.importorskip("anthropic")
    request = anthropic.APIRequest(
        options=final_request_options(method="post", url="/v1/messages"), cast_to=dict
    )
    assert request.options.url == "/v1/messages"
    assert dict(request.headers) == {}


def test_a_client_stores_its_middleware_and_its_chain_where_the_installation_patches_them() -> None:
    """The SDK client's middleware plumbing: `_middleware`, `middleware`, `_build_middleware_chain`,
    `_middleware_chain`, the chain's closures, `_client`, `anthropic._base_client.BaseClient`.

    `install()` makes every client's chain start with its middleware (see
    `beta_middleware._install.anthropic`): it needs a client to keep its own middleware in
    `self._middleware` (read through `middleware`), to build its chain from it with
    `_build_middleware_chain()`, and to store the chain in its own `_middleware_chain`,
    read from the instance per call. `BetaMiddleware` finds the client running a chain
    by walking the chain's closures (`call_next`, down to the client) and reads the
    client's HTTP client from `_client`. Checked on anthropic 0.108, the newest 0.x and
    2.16. If any of it changes, clients miss the installation's betas (the installation
    tests fail) or the middleware misses the http_client's own `anthropic-beta` value.
    """
    pytest.importorskip("anthropic")
    import anthropic
    from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient

    from beta_middleware.anthropic import STACK, _chain_client

    ran: list[str] = []

    class Spy(anthropic.Middleware):
        def handle(self, request: Any, call_next: Any) -> Any:
            ran.append("spy")
            return call_next(request)

    spy = Spy()
    http = STACK.Client(transport=STACK.MockTransport(lambda r: STACK.Response(200, json={})))
    client = anthropic.Anthropic(
        api_key="k", base_url="http://127.0.0.1:1", http_client=http, middleware=[spy]
    )
    assert issubclass(anthropic.Anthropic, SyncAPIClient)
    assert issubclass(anthropic.AsyncAnthropic, AsyncAPIClient)
    assert issubclass(SyncAPIClient, BaseClient)
    assert client.__dict__["_middleware"] == (spy,)
    assert client.middleware == (spy,)
    assert not hasattr(vars(BaseClient).get("_middleware"), "__get__")  # an attribute of the instance
    chain = client.__dict__["_middleware_chain"]
    for cls in (SyncAPIClient, AsyncAPIClient):  # read from the instance: no descriptor on the class
        assert not hasattr(vars(cls).get("_middleware_chain"), "__get__")
    assert [_chain_client(chain), _chain_client(client._build_middleware_chain())] == [client, client]
    assert client._client is http
    # the chain stored on the client is what a call runs
    client.__dict__["_middleware_chain"] = client._build_middleware_chain()
    client.post("/x", cast_to=STACK.Response, body={})
    assert ran == ["spy"]
    client.close()


def test_a_chain_built_before_install_and_stored_after_is_not_taken(server: Server) -> None:
    """The SDK's constructor builds the chain, then stores it in `self._middleware_chain`.

    A client built on another thread while `install()` patches the SDK may build its chain
    before the patch and store it after: the installation builds the chain anew when it
    is stored. Checked on anthropic 0.108, the newest 0.x and 2.16. If the constructor
    stores it otherwise, such a client misses the installation's betas.
    """
    anthropic = pytest.importorskip("anthropic")
    from beta_middleware import install
    from beta_middleware.anthropic import STACK

    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
    built_before = client._build_middleware_chain()  # without the installation's middleware
    with install(hosts=("api.anthropic.com",)), betas("a"):
        client._middleware_chain = built_before
        assert client._middleware_chain is not built_before
        client.post("/echo", cast_to=STACK.Response, body={})
    assert [r.beta for r in server.received] == ["a"]


def test_an_sdk_imported_after_install_reads_each_chain_from_the_client() -> None:
    """The SDK reads a client's chain from the client's own `__dict__` per call.

    Where no client can predate the installation (the SDK imported after it), the
    installation puts nothing on the classes that runs per call: the SDK's own read of
    `_middleware_chain` finds the chain with ours. Checked on anthropic 0.108, the newest
    0.x and 2.16. If the SDK read it through something else, the betas would still be
    sent, but the chains built while installed would outlive `uninstall()`.
    """
    anthropic = pytest.importorskip("anthropic")
    stack = "httpx" if anthropic.__version__.startswith("0.") else "httpx2"
    code = f"""
import beta_middleware
installation = beta_middleware.install(betas="i", hosts=None)
import anthropic, {stack} as stack
from anthropic._base_client import SyncAPIClient
chain = SyncAPIClient.__dict__["_middleware_chain"]
print(hasattr(type(chain), "__get__"), sorted(installation.imported_before))
seen = []
def handler(request):
    seen.append(request.headers.get("anthropic-beta"))
    return stack.Response(200, json={{}})
client = anthropic.Anthropic(api_key="k", http_client=stack.Client(transport=stack.MockTransport(handler)))
with beta_middleware.betas("a"):
    client.post("/x", cast_to=stack.Response, body={{}})
    installation.uninstall()
    client.post("/x", cast_to=stack.Response, body={{}})
print(seen, client._middleware_chain, client.middleware)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False []", "['i,a', None] None ()"]


# --- requests and urllib3 -----------------------------------------------------------------


def test_requests_reads_cookies_from_the_response_urllib3_was_given() -> None:
    """urllib3's `HTTPResponse(original_response=...)` keeps it as `_original_response`, which
    requests reads a response's cookies from (`requests.cookies.extract_cookies_to_jar`).

    After a refusal is looked for, `BetaAdapter` gives requests a response that replays the
    body it read (`_Replayed`) and hands it the original's `_original_response` and `msg`.
    Checked on requests 2.26 with urllib3 1.26, and requests 2.34 with urllib3 2.8. If
    either side changes, a rejected response's cookies no longer reach the session.
    """
    requests = pytest.importorskip("requests")
    import io
    from email.message import Message

    from urllib3.response import HTTPResponse

    class Original:  # what http.client's response gives requests: its headers, as `msg`
        def __init__(self) -> None:
            self.msg = Message()
            self.msg["Set-Cookie"] = "seen=1; Path=/"

        def info(self) -> Message:
            return self.msg

    original = Original()
    response = HTTPResponse(
        io.BytesIO(b""),
        headers={},
        original_response=original,  # type: ignore[arg-type]  # only its `msg` is read
        preload_content=False,
    )
    assert response._original_response is original  # type: ignore[comparison-overlap]
    jar = requests.cookies.RequestsCookieJar()
    prepared = requests.Request("GET", "http://127.0.0.1/").prepare()
    requests.cookies.extract_cookies_to_jar(jar, prepared, response)
    assert jar.get("seen") == "1"


# --- CPython ------------------------------------------------------------------------------


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="from 3.14 the installation passes Thread(context=)")
def test_a_thread_runs_bootstrap_inner_in_itself_before_run() -> None:
    """`threading.Thread._bootstrap_inner`: run in the new thread before `run()`, whatever is overridden.

    `install(threads=True)` patches it to enter the scope of where the thread was created
    (before 3.14). Checked on CPython 3.10 to 3.13. If it goes, installing with threads=True
    warns that it could not patch `threading`, and threads start with no betas.
    """
    order: list[object] = []
    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
    starter = threading.get_ident()

    def bootstrap_inner(self: threading.Thread) -> None:
        order.append(("bootstrap", threading.get_ident() != starter))
        original(self)

    class Worker(threading.Thread):
        def run(self) -> None:
            order.append("run")

    patched = pytest.MonkeyPatch()
    patched.setattr(threading.Thread, "_bootstrap_inner", bootstrap_inner)
    try:
        worker = Worker()
        worker.start()
        worker.join()
    finally:
        patched.undo()
    assert order == [("bootstrap", True), "run"]


def test_a_scope_entered_and_left_straight_from_c_code() -> None:
    """`_thread._count()`: the threads `_thread` started and that have not ended yet.

    At the bottom of a thread started by `_thread`, no Python frame is below a scope's
    method (`sys._getframe(2)` raises): the scope takes None for its caller. This test
    waits for such threads with `_thread._count()`, CPython's only count of them. Checked
    on CPython 3.10 to 3.13. If it goes, this test needs another way to wait.
    """
    import _thread
    import contextvars
    import time

    scope = betas("s")
    errors: list[object] = []
    hook = sys.unraisablehook
    sys.unraisablehook = errors.append
    try:
        before = _thread._count()
        _thread.start_new_thread(scope.__enter__, ())
        _thread.start_new_thread(scope.__exit__, (None, None, None))
        deadline = time.monotonic() + 5
        while _thread._count() > before and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sys.unraisablehook = hook
    assert errors == []
    ctx = contextvars.copy_context()
    ctx.run(scope.__enter__)  # called by C code, above a Python frame
    assert ctx.run(current_betas) == ("s",)
    ctx.run(scope.__exit__, None, None, None)
    assert ctx.run(current_betas) == ()
