"""What the benchmark measures: the HTTP stacks and the scenarios, one table entry each.

Every stack is built three ways over the same stubbed network call:

- `bare`: the stack with no middleware;
- `package`: the stack with this package's integration;
- `hand`: a hand-written injector, the least work possible - it appends a fixed string
  (the names the scenario makes the package add) to the request's `anthropic-beta`
  value: no validation, no merging, no context read; where the scenario has `hosts=`,
  it first checks the request's host against them, as plainly as the stack allows
  (a set of lowercased names). With nothing to add it is a do-nothing forwarder.

A request is one `Session.get` / `Client.get` call, or for the anthropic SDK one
`client.messages.create(...)`: the whole in-process cost of a request as an application
pays it, minus the network. The stub below the middleware records the header it was
handed, so the run can check that `package` and `hand` send the same value before
timing them.

Adding a stack or a scenario is one entry in `STACKS` or `SCENARIOS`.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter, thread_time
from types import ModuleType, SimpleNamespace
from typing import Any, Literal
from urllib.parse import urlsplit

from beta_middleware import HEADER, BetaScope

__all__ = [
    "FIXED",
    "INSTALLED",
    "ONE_NAME",
    "OUTSIDE",
    "OWN_FIXED",
    "SCENARIOS",
    "STACKS",
    "VARIANTS",
    "AsyncRunner",
    "InstalledRunner",
    "Runner",
    "Scenario",
    "Stack",
    "Variant",
    "install_settings",
    "running",
]

URL = "https://api.anthropic.com/v1/messages"
HOST = "api.anthropic.com"

Variant = Literal["bare", "package", "hand"]
VARIANTS: tuple[Variant, ...] = ("bare", "package", "hand")


@dataclass(frozen=True)
class Scenario:
    """What is active when a request is made, and how the integration is configured."""

    name: str
    scopes: tuple[tuple[str, ...], ...] = ()
    """Names of the scopes entered (outermost first) around the requests."""
    own: str | None = None
    """The request's own `anthropic-beta` value."""
    betas: tuple[str, ...] = ()
    """The integration's fixed `betas=`."""
    hosts: tuple[str, ...] | None = None
    """The integration's `hosts=` (ignored by integrations that take none: see `Stack.hosts`)."""
    drop_rejected: bool = False
    """The integration's `drop_rejected=` (the stubs never reject, so only its cost shows)."""

    @property
    def added(self) -> str:
        """The header value the integration adds (what the hand-written injector appends)."""
        names = [*self.betas, *(name for scope in self.scopes for name in scope)]
        return ",".join(dict.fromkeys(names))

    @property
    def inside(self) -> bool:
        """Whether the requests' host (`HOST`) is one the integration serves."""
        return self.hosts is None or HOST in self.hosts

    @property
    def expected(self) -> str | None:
        """The header the stub must receive (on a stack whose integration takes `hosts=`)."""
        if not self.added or not self.inside:
            return self.own
        return f"{self.own},{self.added}" if self.own else self.added


def _names(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i}-2025-01-01" for i in range(count)]


def _nested(names: Sequence[str], depth: int) -> tuple[tuple[str, ...], ...]:
    """`names` spread over `depth` nested scopes: the extra names all in the innermost."""
    head = [(name,) for name in names[: depth - 1]]
    return (*head, tuple(names[depth - 1 :]))


PASS_THROUGH = "pass-through"
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(PASS_THROUGH),
    Scenario("2 active + own", scopes=(tuple(_names(2, "ctx")),), own="own-2025-01-01"),
    Scenario("32 in 1 scope", scopes=(tuple(_names(32, "deep")),)),
    Scenario("32 in 30 scopes", scopes=_nested(_names(32, "deep"), 30)),
    Scenario("hosts=", scopes=(tuple(_names(2, "ctx")),), hosts=(HOST,)),
    # The "2 active + own" request with the option on, so the two cells differ by it alone.
    Scenario("drop_rejected", scopes=(tuple(_names(2, "ctx")),), own="own-2025-01-01", drop_rejected=True),
)
"""The scenarios; `PASS_THROUGH` must stay first-class (the +0.01 budget applies to it)."""

ONE_NAME = Scenario("1 scope name", scopes=(("ctx-0-2025-01-01",),))
"""The commonest request with betas: one scope, one name (counted in instructions only)."""

FIXED = Scenario("betas= + 1 scope name", scopes=(("ctx-0-2025-01-01",),), betas=("fixed-2025-01-01",))
"""The integration's own `betas=` merged with one scope name (counted in instructions only)."""

OWN_FIXED = Scenario("betas= + own", own="own-2025-01-01", betas=("fixed-2025-01-01",))
"""The integration's own `betas=` merged into the request's own value (counted in instructions only)."""


class Runner:
    """One stack built one way: makes `n` requests and says how long they took."""

    sent: str | None = None
    """The `anthropic-beta` value the stub received last."""

    def __init__(
        self,
        request: Callable[[], Any],
        close: Callable[[], Any],
        integration: object | None = None,
        objects: tuple[object, ...] = (),
    ) -> None:
        self._request = request
        self._close = close
        self.integration = integration
        """The package's adapter, transport or middleware (`package` variant only), for the tests."""
        self.objects = objects
        """The session or clients the requests go through (what `install()` patches the classes of)."""

    def run(self, n: int) -> float:
        """Make `n` requests; return the CPU seconds this thread spent on them."""
        request = self._request
        start = thread_time()
        for _ in range(n):
            request()
        return thread_time() - start

    def close(self) -> None:
        """Release what the stack holds."""
        self._close()


class AsyncRunner(Runner):
    """A runner whose requests are coroutines, run on its own event loop."""

    def __init__(
        self,
        request: Callable[[], Any],
        close: Callable[[], Any],
        integration: object | None = None,
        objects: tuple[object, ...] = (),
    ) -> None:
        super().__init__(request, close, integration, objects)
        self.loop = asyncio.new_event_loop()

    async def _batch(self, n: int) -> float:
        request = self._request
        start = thread_time()
        for _ in range(n):
            await request()
        return thread_time() - start

    def run(self, n: int) -> float:
        """`Runner.run`, in one task (it sees the scopes active here)."""
        return self.loop.run_until_complete(self._batch(n))

    def concurrent(self, scopes: Sequence[BetaScope], per_task: int) -> list[float]:
        """Run one task per scope, all holding their scope at once, each making `per_task` requests.

        Returns the duration of every request (task set-up is not counted). Tasks yield
        between requests, so they interleave. Single requests are timed by the wall
        clock (a CPU clock costs a system call each time): take their median, which a
        preempted request does not move.
        """
        request = self._request
        spent: list[float] = []

        async def task(scope: BetaScope, ready: asyncio.Event) -> None:
            async with scope:
                await ready.wait()
                for _ in range(per_task):
                    start = perf_counter()
                    await request()
                    spent.append(perf_counter() - start)
                    await asyncio.sleep(0)

        async def main() -> None:
            ready = asyncio.Event()
            tasks = [asyncio.ensure_future(task(scope, ready)) for scope in scopes]
            await asyncio.sleep(0)  # every task enters its scope, then waits
            ready.set()
            await asyncio.gather(*tasks)

        self.loop.run_until_complete(main())
        return spent

    def close(self) -> None:
        """Close the client, then the loop."""
        self.loop.run_until_complete(self._close())
        self.loop.close()


@dataclass(frozen=True)
class Stack:
    """An HTTP stack: how to build it bare, with the package, and with the hand-written injector."""

    name: str
    requires: str
    """The module it needs; a stack whose module is missing is skipped."""
    build: Callable[[Variant, Scenario], Runner]
    concurrent: bool = False
    """Whether the concurrent-tasks measure runs on it (the httpx and httpx2 async stacks)."""
    hosts: bool = True
    """Whether its integration takes `hosts=`; where not, `Scenario.hosts` is not passed."""
    chained: bool = False
    """Whether the integration goes into the stack's own middleware chain (the SDK's
    `middleware=[...]`). The stack runs that chain only once it holds a middleware, which
    costs the same for any middleware: with nothing active the package is then held
    against the hand-written middleware, which only forwards, instead of bare."""

    def available(self) -> bool:
        """Whether the stack's module is installed."""
        return importlib.util.find_spec(self.requires) is not None


def _requests(variant: Variant, scenario: Scenario) -> Runner:
    import requests
    from requests.adapters import HTTPAdapter

    from beta_middleware.requests import BetaAdapter

    # requests only calls the adapter's `send`; this one answers without a network.
    class Stub(HTTPAdapter):
        sent: str | None = None

        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            value = request.headers.get(HEADER)
            self.sent = value if isinstance(value, str) or value is None else value.decode()
            response = requests.Response()
            response.status_code = 200
            response.reason = "OK"
            response.headers["content-type"] = "application/json"
            response._content = b"{}"
            response.encoding = "utf-8"
            response.url = request.url or ""
            response.request = request
            response.connection = self
            return response

    class StubBeta(BetaAdapter, Stub):
        """`BetaAdapter` over the same stub: its `super().send` is `Stub.send`."""

    full = scenario.added
    tail = "," + full
    hosts = _host_set(scenario.hosts)

    class Hand(Stub):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            if full and (hosts is None or urlsplit(request.url or "").hostname in hosts):
                value = request.headers.get(HEADER)
                request.headers[HEADER] = value + tail if value else full  # type: ignore[operator]
            return super().send(request, *args, **kwargs)

    adapter: Stub
    if variant == "bare":
        adapter = Stub()
    elif variant == "hand":
        adapter = Hand()
    else:
        adapter = StubBeta(betas=scenario.betas, hosts=scenario.hosts, drop_rejected=scenario.drop_rejected)
    session = requests.Session()
    session.trust_env = False  # no proxy look-ups from the environment: the leanest request
    session.mount("https://", adapter)
    headers = {HEADER: scenario.own} if scenario.own else None
    get = session.get

    def request() -> None:
        get(URL, headers=headers)
        runner.sent = adapter.sent

    runner = Runner(request, session.close, adapter if variant == "package" else None, (session,))
    return runner


def _host_set(hosts: tuple[str, ...] | None) -> frozenset[str] | None:
    """The hand-written host check's set: the names lowercased (the scenarios have no wildcards)."""
    return None if hosts is None else frozenset(host.lower() for host in hosts)


def _hand_transport(inner: Any, full: str, is_async: bool, hosts: frozenset[str] | None = None) -> Any:
    """The hand-written injector for httpx-like stacks, wrapping `inner` (`hosts`: see `_host_set`)."""
    tail = "," + full

    def inject(request: Any) -> None:
        if full and (hosts is None or request.url.host in hosts):
            headers = request.headers
            value = headers.get(HEADER)
            headers[HEADER] = value + tail if value else full

    class Hand:
        def handle_request(self, request: Any) -> Any:
            inject(request)
            return inner.handle_request(request)

        def close(self) -> None:
            inner.close()

    class AsyncHand:
        async def handle_async_request(self, request: Any) -> Any:
            inject(request)
            return await inner.handle_async_request(request)

        async def aclose(self) -> None:
            await inner.aclose()

    return AsyncHand() if is_async else Hand()


def _httpx_like(module: str, is_async: bool) -> Callable[[Variant, Scenario], Runner]:
    def build(variant: Variant, scenario: Scenario) -> Runner:
        stack: ModuleType = importlib.import_module(module)
        package: ModuleType = importlib.import_module(f"beta_middleware.{module}")
        seen: list[str | None] = [None]

        def handler(request: Any) -> Any:
            seen[0] = request.headers.get(HEADER)
            return stack.Response(200, content=b"{}", headers={"content-type": "application/json"})

        transport: Any = stack.MockTransport(handler)
        if variant == "package":
            wrapper = package.AsyncBetaTransport if is_async else package.BetaTransport
            transport = wrapper(
                transport, betas=scenario.betas, hosts=scenario.hosts, drop_rejected=scenario.drop_rejected
            )
        elif variant == "hand":
            transport = _hand_transport(transport, scenario.added, is_async, _host_set(scenario.hosts))
        headers = {HEADER: scenario.own} if scenario.own else None
        integration = transport if variant == "package" else None
        runner: Runner
        if is_async:
            client = stack.AsyncClient(transport=transport)
            get = client.get

            async def arequest() -> None:
                await get(URL, headers=headers)
                runner.sent = seen[0]

            runner = AsyncRunner(arequest, client.aclose, integration, (client,))
        else:
            client = stack.Client(transport=transport)
            get = client.get

            def request() -> None:
                get(URL, headers=headers)
                runner.sent = seen[0]

            runner = Runner(request, client.close, integration, (client,))
        return runner

    return build


MESSAGE = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],'
    b'"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'
)
"""A minimal Messages API response body: what the SDK stubs answer (the SDK parses it)."""


def _hand_middleware(full: str) -> Any:
    """The hand-written injector as an SDK middleware: the SDK's `Middleware` contract, no more.

    An `APIRequest` is to be treated as immutable, so the header goes in through
    `request.copy(headers=...)`, as `BetaMiddleware` does it.
    """
    from anthropic import APIRequest, APIResponse, AsyncAPIResponse, AsyncCallNext, CallNext, Middleware

    tail = "," + full

    def inject(request: APIRequest) -> APIRequest:
        headers = request.headers
        value = headers.get(HEADER)
        return request.copy(headers={**headers, HEADER: value + tail if value else full})

    class Hand(Middleware):
        def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
            return call_next(inject(request) if full else request)

        async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
            return await call_next(inject(request) if full else request)

    return Hand()


def _anthropic(is_async: bool) -> Callable[[Variant, Scenario], Runner]:
    """The anthropic SDK (>= 1.0, on httpx2) with `BetaMiddleware` in `middleware=[...]`.

    A request is one `client.messages.create(...)` answered by `httpx2.MockTransport`
    with `MESSAGE`; the SDK retries nothing (`max_retries=0`). A scenario's own value
    goes in as SDK users pass it, `extra_headers={"anthropic-beta": own}`: that works on
    `client.messages.create` itself, so every variant makes the same call and the value
    reaches the middleware as the request's own header (`betas=[...]` would need
    `client.beta.messages.create`, which the SDK turns into the same header).

    `BetaMiddleware` takes no `hosts=`: a client sends to its one base URL, so choosing
    the client to put the middleware on is the host choice. The `hosts=` scenario runs it
    (and the hand-written injector) without: 2 betas active, no own value.
    """

    def build(variant: Variant, scenario: Scenario) -> Runner:
        import anthropic
        import httpx2

        from beta_middleware.anthropic import BetaMiddleware

        seen: list[str | None] = [None]

        def handler(request: httpx2.Request) -> httpx2.Response:
            seen[0] = request.headers.get(HEADER)
            return httpx2.Response(200, content=MESSAGE, headers={"content-type": "application/json"})

        middleware: list[Any] = []
        if variant == "package":
            middleware = [BetaMiddleware(betas=scenario.betas, drop_rejected=scenario.drop_rejected)]
        elif variant == "hand":
            middleware = [_hand_middleware(scenario.added)]
        integration = middleware[0] if variant == "package" else None
        options: dict[str, Any] = {
            "api_key": "test",
            "base_url": "https://api.anthropic.com",
            "max_retries": 0,
            "middleware": middleware,
        }
        ask: dict[str, Any] = {
            "model": "claude-test",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}],
            "extra_headers": {HEADER: scenario.own} if scenario.own else None,
        }
        transport = httpx2.MockTransport(handler)
        runner: Runner
        if is_async:
            ahttp = httpx2.AsyncClient(transport=transport)
            aclient = anthropic.AsyncAnthropic(http_client=ahttp, **options)
            acreate = aclient.messages.create

            async def arequest() -> None:
                await acreate(**ask)
                runner.sent = seen[0]

            runner = AsyncRunner(arequest, aclient.close, integration, (aclient, ahttp))
        else:
            http = httpx2.Client(transport=transport)
            client = anthropic.Anthropic(http_client=http, **options)
            create = client.messages.create

            def request() -> None:
                create(**ask)
                runner.sent = seen[0]

            runner = Runner(request, client.close, integration, (client, http))
        return runner

    return build


class InstalledRunner(Runner):
    """The bare stack, sending while `install(**settings)` is on: an installed stack's package variant.

    `running` makes the installation, once for a whole cell.
    """

    def __init__(self, inner: Runner, settings: dict[str, Any], rules: object) -> None:
        super().__init__(inner._request, inner.close, SimpleNamespace(rules=rules), inner.objects)
        self.inner = inner
        self.settings = settings

    @property
    def sent(self) -> str | None:  # type: ignore[override]
        """What the stub received last."""
        return self.inner.sent

    def run(self, n: int) -> float:
        """The bare stack's `run` (an async one runs its requests on its own loop)."""
        return self.inner.run(n)

    def close(self) -> None:
        """Release what the stack holds."""
        self.inner.close()


@contextmanager
def running(runners: Mapping[Variant, Runner]) -> Iterator[None]:
    """What a cell's requests run inside: nothing, or for an installed stack its installation.

    The installation is made once for the whole cell, as a program makes it once, and the
    variants take turns as on any stack. The bare and hand-written variants must still
    run the code an uninstalled process runs: their session or clients are moved to a
    subclass of their class that holds, for each attribute the installation patched on it,
    what was there before. (Installing and uninstalling around each turn instead makes
    CPython drop what it specialised for the patched classes at every turn, for every
    variant: each turn starts cold, and by how much depends on who ran before.)
    """
    package = runners.get("package")
    if not isinstance(package, InstalledRunner):
        yield
        return
    from beta_middleware import install

    installation = install(**package.settings)
    try:
        for runner in runners.values():
            if runner is not package:
                for obj in runner.objects:
                    obj.__class__ = _uninstalled(type(obj), installation)
        yield
    finally:
        installation.uninstall()


def _uninstalled(cls: type, installation: Any) -> type:
    """A subclass of `cls` holding what every attribute `installation` patched on it was before."""
    from beta_middleware._install.installation import _ABSENT

    namespace: dict[str, Any] = {"__slots__": ()}
    mro = cls.__mro__
    for owner, name, before in installation._patches:
        if owner not in mro or next(k for k in mro if name in k.__dict__) is not owner:
            continue  # not a base of `cls`, or a class in between overrides the name: not patched here
        if before is _ABSENT:  # what the next base has, else nothing: the instance's own value shows
            before = next((k.__dict__[name] for k in mro[mro.index(owner) + 1 :] if name in k.__dict__), None)
        namespace[name] = before
    return type(cls.__name__, (cls,), namespace)


def install_settings(scenario: Scenario) -> dict[str, Any]:
    """The `install(...)` arguments of an installed stack in `scenario`."""
    return {"betas": scenario.betas, "hosts": scenario.hosts, "drop_rejected": scenario.drop_rejected}


def _installed(
    build: Callable[[Variant, Scenario], Runner], sdk: bool = False
) -> Callable[[Variant, Scenario], Runner]:
    """`build`'s stack where the package variant is the bare stack under `install(...)`."""

    def installed(variant: Variant, scenario: Scenario) -> Runner:
        from beta_middleware._core.header import Rules

        if variant != "package":
            return build(variant, scenario)
        rules = Rules(scenario.betas, None if sdk else scenario.hosts, scenario.drop_rejected)
        return InstalledRunner(build("bare", scenario), install_settings(scenario), rules)

    return installed


STACKS: tuple[Stack, ...] = (
    Stack("requests BetaAdapter", "requests", _requests),
    Stack("httpx BetaTransport", "httpx", _httpx_like("httpx", False)),
    Stack("httpx AsyncBetaTransport", "httpx", _httpx_like("httpx", True), concurrent=True),
    Stack("httpx2 BetaTransport", "httpx2", _httpx_like("httpx2", False)),
    Stack("httpx2 AsyncBetaTransport", "httpx2", _httpx_like("httpx2", True), concurrent=True),
    # SDK calls cost several times an httpx2 request: no 10,000-task run on top.
    Stack("anthropic BetaMiddleware", "anthropic", _anthropic(False), hosts=False, chained=True),
    Stack("anthropic async BetaMiddleware", "anthropic", _anthropic(True), hosts=False, chained=True),
    # install(): the same requests, through a stack patched process-wide.
    Stack("requests install()", "requests", _installed(_requests)),
    Stack("httpx install()", "httpx", _installed(_httpx_like("httpx", False))),
    Stack("httpx2 install()", "httpx2", _installed(_httpx_like("httpx2", False))),
    Stack("httpx2 async install()", "httpx2", _installed(_httpx_like("httpx2", True))),
    Stack(
        "anthropic install()",
        "anthropic",
        _installed(_anthropic(False), sdk=True),
        hosts=False,
        chained=True,
    ),
)

INSTALLED: tuple[Stack, ...] = tuple(s for s in STACKS if s.name.endswith("install()"))
"""The installed stacks."""

OUTSIDE = Scenario("outside hosts=", scopes=(tuple(_names(2, "ctx")),), hosts=("other.example",))
"""2 betas active, the request's host outside the installation's hosts: it is sent as it came."""
