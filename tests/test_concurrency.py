"""Many threads and tasks share one client over real sockets: each request gets its own betas.

The server (tests/server.py, `/echo`) answers with the header it received and records
every request, so each one is checked twice: by its caller against what its scopes
should produce, and by path on the server (every request arrives once, with that value).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
import requests

from beta_middleware import BetaScope, betas
from beta_middleware import httpx as bm_httpx
from beta_middleware import httpx2 as bm_httpx2
from beta_middleware.requests import BetaAdapter

from .server import Server

THREADS = 16
PER_THREAD = 20
GROUPS = 25
PER_GROUP = 20  # GROUPS x PER_GROUP = 500 tasks at once
SOCKETS = 16
FIXED = "fixed-2025-01-01"
SHARED = "shared-2025-01-01"
HEADER = "anthropic-beta"

shared = betas(SHARED)  # one scope object, entered by every thread and task at once


def expected(own: str | None, *context: str) -> str:
    """What must arrive: the request's own names, the fixed one, then the context's."""
    names = [*(own.split(",") if own else []), FIXED, *context]
    return ",".join(dict.fromkeys(names))


def request_plan(worker: str, i: int) -> tuple[list[BetaScope], str | None, list[str]]:
    """The scopes, own header and expected context names of request `i` of `worker`.

    Requests vary: some enter the shared scope object, some send a header of their own,
    some replace everything active with a name of their own.
    """
    mine = f"req-{worker}-{i}"
    own = f"own-{worker}-{i},{FIXED}" if i % 3 == 0 else None
    if i % 5 == 4:
        return [betas(mine, replace=True)], own, [mine]
    if i % 2:
        return [shared, betas(mine)], own, [SHARED, mine]
    return [betas(mine)], own, [mine]


Outcome = tuple[str, str, str | None]  # path, expected value, value the server echoed


def check(server: Server, outcomes: list[Outcome], count: int) -> None:
    cross_talk = [o for o in outcomes if o[1] != o[2]]
    assert cross_talk == []
    assert len(outcomes) == count
    by_path = {path: want for path, want, _ in outcomes}
    arrived = sorted((r.path, r.beta) for r in server.received)
    assert arrived == sorted(by_path.items())  # every request arrived once, with its value


@contextlib.contextmanager
def sync_sender(stack: str) -> Iterator[Callable[[str, dict[str, str]], str | None]]:
    """One client of `stack`, shared by every thread; yields get(url, headers) -> echoed value."""
    if stack == "requests":
        session = requests.Session()
        session.mount("http://", BetaAdapter(betas=FIXED, pool_maxsize=THREADS))
        with session:
            yield lambda url, headers: session.get(url, headers=headers, timeout=10).json()[HEADER]
    elif stack == "httpx":
        with httpx.Client(transport=bm_httpx.BetaTransport(betas=FIXED), timeout=10) as client:
            yield lambda url, headers: client.get(url, headers=headers).json()[HEADER]
    else:
        with httpx2.Client(transport=bm_httpx2.BetaTransport(betas=FIXED), timeout=10) as client2:
            yield lambda url, headers: client2.get(url, headers=headers).json()[HEADER]


@pytest.mark.parametrize("stack", ["requests", "httpx", "httpx2"])
def test_threads_share_one_client(server: Server, stack: str) -> None:
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(t: int, get: Callable[[str, dict[str, str]], str | None]) -> None:
        try:
            start.wait(10)
            thread_name = f"thread-{t}"
            with betas(thread_name):
                for i in range(PER_THREAD):
                    scopes, own, context = request_plan(f"{t}", i)
                    if not scopes[0].replace:
                        context = [thread_name, *context]
                    with contextlib.ExitStack() as entered:
                        for scope in scopes:
                            entered.enter_context(scope)
                        path = f"/echo/{t}/{i}"
                        got = get(server.url_for(path), {HEADER: own} if own else {})
                    outcomes.append((path, expected(own, *context), got))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    with sync_sender(stack) as get:
        threads = [threading.Thread(target=work, args=(t, get)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    check(server, outcomes, THREADS * PER_THREAD)


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
async def test_tasks_share_one_async_client(server: Server, stack: str) -> None:
    # The tasks outnumber the sockets: the test server accepts a few connections at a
    # time, so the requests queue for the client's pool, scopes held, as in a busy service.
    # The last of them waits in the pool for nearly all the others (seconds under coverage
    # on a busy machine): its pool timeout bounds the whole run, each socket's the 10 s.
    if stack == "httpx":
        inner: Any = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=SOCKETS))
        timeout: Any = httpx.Timeout(10, pool=120)
        transport: Any = bm_httpx.AsyncBetaTransport(inner, betas=FIXED)
        client: Any = httpx.AsyncClient(transport=transport, timeout=timeout)
    else:
        inner = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=SOCKETS))
        timeout = httpx2.Timeout(10, pool=120)
        transport = bm_httpx2.AsyncBetaTransport(inner, betas=FIXED)
        client = httpx2.AsyncClient(transport=transport, timeout=timeout)
    outcomes: list[Outcome] = []

    async def one(g: int, i: int) -> None:
        scopes, own, context = request_plan(f"g{g}", i)
        if not scopes[0].replace:
            context = [f"group-{g}", *context]
        async with contextlib.AsyncExitStack() as entered:
            for scope in scopes:
                await entered.enter_async_context(scope)
            await asyncio.sleep(0)  # every task enters its scopes before any request is sent
            path = f"/echo/g{g}/{i}"
            response = await client.get(server.url_for(path), headers={HEADER: own} if own else {})
        outcomes.append((path, expected(own, *context), response.json()[HEADER]))

    async def group(g: int) -> None:
        # Tasks created inside a scope start with it: the per-group names.
        async with betas(f"group-{g}"):
            await asyncio.gather(*(one(g, i) for i in range(PER_GROUP)))

    async with client:
        await asyncio.gather(*(group(g) for g in range(GROUPS)))
    check(server, outcomes, GROUPS * PER_GROUP)
