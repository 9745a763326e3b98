"""What the benchmark measures: the HTTP stacks and the scenarios, one table entry each.

Every stack is built three ways over the same stubbed network call:

- `bare`: the stack with no middleware;
- `package`: the stack with this package's integration;
- `hand`: a hand-written injector, the least work possible - it appends a fixed string
  (the names the scenario makes the package add) to the request's `anthropic-beta`
  value: no validation, no merging, no host check, no context read.

A request is one `Session.get` / `Client.get` call: the whole in-process cost of a
request as an application pays it, minus the network. The stub below the middleware
records the header it was handed, so the run can check that `package` and `hand` send
the same value before timing them.

Adding a stack or a scenario is one entry in `STACKS` or `SCENARIOS`.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter, thread_time
from types import ModuleType
from typing import Any, Literal

from beta_middleware import HEADER, BetaScope

__all__ = ["SCENARIOS", "STACKS", "VARIANTS", "AsyncRunner", "Runner", "Scenario", "Stack", "Variant"]

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
    """The integration's `hosts=`."""

    @property
    def added(self) -> str:
        """The header value the integration adds (what the hand-written injector appends)."""
        names = [*self.betas, *(name for scope in self.scopes for name in scope)]
        return ",".join(dict.fromkeys(names))

    @property
    def expected(self) -> str | None:
        """The header the stub must receive."""
        if not self.added:
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
)
"""The scenarios; `PASS_THROUGH` must stay first-class (the +0.01 budget applies to it)."""


class Runner:
    """One stack built one way: makes `n` requests and says how long they took."""

    sent: str | None = None
    """The `anthropic-beta` value the stub received last."""

    def __init__(self, request: Callable[[], Any], close: Callable[[], Any]) -> None:
        self._request = request
        self._close = close

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

    def __init__(self, request: Callable[[], Any], close: Callable[[], Any]) -> None:
        super().__init__(request, close)
        self.loop = asyncio.new_event_loop()

    async def _batch(self, n: int) -> float:
        request = self._request
        start = thread_time()
        for _ in range(n):
            await request()
        return thread_time() - start

    def run(self, n: int) -> float:
        """Make `n` requests in one task (it sees the scopes active here); return the CPU seconds."""
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
    """Whether the concurrent-tasks measure runs on it (async stacks)."""

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

    class Hand(Stub):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            if full:
                value = request.headers.get(HEADER)
                request.headers[HEADER] = value + tail if value else full  # type: ignore[operator]
            return super().send(request, *args, **kwargs)

    adapter: Stub
    if variant == "bare":
        adapter = Stub()
    elif variant == "hand":
        adapter = Hand()
    else:
        adapter = StubBeta(betas=scenario.betas, hosts=scenario.hosts)
    session = requests.Session()
    session.trust_env = False  # no proxy look-ups from the environment: the leanest request
    session.mount("https://", adapter)
    headers = {HEADER: scenario.own} if scenario.own else None
    get = session.get

    def request() -> None:
        get(URL, headers=headers)
        runner.sent = adapter.sent

    runner = Runner(request, session.close)
    return runner


def _hand_transport(inner: Any, full: str, is_async: bool) -> Any:
    """The hand-written injector for httpx-like stacks, wrapping `inner`."""
    tail = "," + full

    def inject(request: Any) -> None:
        if full:
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
            transport = wrapper(transport, betas=scenario.betas, hosts=scenario.hosts)
        elif variant == "hand":
            transport = _hand_transport(transport, scenario.added, is_async)
        headers = {HEADER: scenario.own} if scenario.own else None
        runner: Runner
        if is_async:
            client = stack.AsyncClient(transport=transport)
            get = client.get

            async def arequest() -> None:
                await get(URL, headers=headers)
                runner.sent = seen[0]

            runner = AsyncRunner(arequest, client.aclose)
        else:
            client = stack.Client(transport=transport)
            get = client.get

            def request() -> None:
                get(URL, headers=headers)
                runner.sent = seen[0]

            runner = Runner(request, client.close)
        return runner

    return build


STACKS: tuple[Stack, ...] = (
    Stack("requests BetaAdapter", "requests", _requests),
    Stack("httpx BetaTransport", "httpx", _httpx_like("httpx", False)),
    Stack("httpx AsyncBetaTransport", "httpx", _httpx_like("httpx", True), concurrent=True),
    Stack("httpx2 BetaTransport", "httpx2", _httpx_like("httpx2", False)),
    Stack("httpx2 AsyncBetaTransport", "httpx2", _httpx_like("httpx2", True), concurrent=True),
)
