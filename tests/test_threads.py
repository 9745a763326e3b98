"""`install(threads=True)`: a job runs with exactly its submitter's betas; workers have none of their own."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import multiprocessing.pool
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from beta_middleware import Installation, betas, current_betas, install, uninstall
from beta_middleware._install import installation as install_module
from beta_middleware._install import threads as _carry

from . import jobs

ALPHA, BETA = "alpha-2025-01-01", "beta-2025-02-02"


@pytest.fixture(autouse=True)
def _uninstalled() -> Iterator[None]:
    assert install_module.installed() is None
    try:
        yield
    finally:
        uninstall()


@pytest.fixture
def installed() -> Iterator[Installation]:
    with install(threads=True) as installation:
        yield installation


@pytest.mark.usefixtures("installed")
def test_a_worker_started_inside_a_scope_keeps_none_of_it() -> None:
    seen_by_initializer: list[tuple[str, ...]] = []
    with ThreadPoolExecutor(1, initializer=lambda: seen_by_initializer.append(current_betas())) as pool:
        with betas(ALPHA):
            assert pool.submit(current_betas).result(10) == (ALPHA,)  # the worker starts here
        assert pool.submit(current_betas).result(10) == ()
        with betas(BETA):
            assert pool.submit(current_betas).result(10) == (BETA,)
            assert list(pool.map(jobs.seen, [1, 2])) == [(BETA,)] * 2
        assert list(pool.map(jobs.seen, [1, 2])) == [(), ()]
    assert seen_by_initializer == [()]


@pytest.mark.usefixtures("installed")
def test_a_job_leaves_its_worker_as_it_was() -> None:
    with ThreadPoolExecutor(1) as pool:
        with betas(ALPHA):
            assert pool.submit(jobs.leave_open, "left-2025-01-01").result(10) == (ALPHA, "left-2025-01-01")
        assert pool.submit(current_betas).result(10) == ()


class Sub(ThreadPoolExecutor):
    """A subclass that keeps `submit`, and one that overrides it calling `super()`."""


class Counting(ThreadPoolExecutor):
    submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        type(self).submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("kind", [Sub, Counting])
def test_subclasses(kind: type[ThreadPoolExecutor]) -> None:
    with kind(2) as pool:
        with betas(ALPHA):
            assert [f.result(10) for f in [pool.submit(current_betas) for _ in range(3)]] == [(ALPHA,)] * 3
        assert [f.result(10) for f in [pool.submit(current_betas) for _ in range(3)]] == [()] * 3


@pytest.mark.usefixtures("installed")
async def test_the_event_loops_executors() -> None:
    loop = asyncio.get_running_loop()
    with betas(ALPHA):  # the default executor and its worker are made here
        assert await loop.run_in_executor(None, current_betas) == (ALPHA,)
        assert await asyncio.to_thread(current_betas) == (ALPHA,)
    assert await loop.run_in_executor(None, current_betas) == ()
    assert await asyncio.to_thread(current_betas) == ()
    with ThreadPoolExecutor(1) as pool:
        async with betas(BETA):
            assert await loop.run_in_executor(pool, current_betas) == (BETA,)
        assert await loop.run_in_executor(pool, current_betas) == ()


def test_a_pool_built_before_install_and_used_after_uninstall() -> None:
    with ThreadPoolExecutor(2) as pool:
        with betas(ALPHA):
            assert pool.submit(current_betas).result(10) == ()  # not installed: a plain worker
        with install(threads=True):
            with betas(BETA):
                futures = [pool.submit(current_betas) for _ in range(4)]  # may start the second worker
                assert [f.result(10) for f in futures] == [(BETA,)] * 4
            assert pool.submit(current_betas).result(10) == ()
        with betas(ALPHA):
            after = [pool.submit(current_betas) for _ in range(4)]
        assert [f.result(10) for f in after] == [()] * 4  # no worker kept a scope


def test_a_worker_started_while_installed_keeps_nothing_after_uninstall() -> None:
    pool = ThreadPoolExecutor(1)
    with install(threads=True), betas(ALPHA):
        assert pool.submit(current_betas).result(10) == (ALPHA,)
    assert pool.submit(current_betas).result(10) == ()
    pool.shutdown()


@pytest.mark.usefixtures("installed")
def test_concurrent_submitters_each_get_their_own() -> None:
    # Two workers shared by six submitting threads, each in its own scope or none.
    with ThreadPoolExecutor(2) as pool:
        barrier = threading.Barrier(6)
        results: dict[int, list[tuple[object, tuple[str, ...]]]] = {}

        def submitter(i: int) -> None:
            names = () if i % 3 == 0 else (f"n{i}-2025-01-01",)
            barrier.wait(10)
            with betas(*names):
                futures = [pool.submit(jobs.tagged, (i, k)) for k in range(20)]
            results[i] = [f.result(10) for f in futures]

        threads = [threading.Thread(target=submitter, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    for i, got in results.items():
        names = () if i % 3 == 0 else (f"n{i}-2025-01-01",)
        assert got == [((i, k), names) for k in range(20)]
    assert len(results) == 6


@pytest.mark.usefixtures("installed")
def test_a_thread_gets_the_betas_where_it_was_created() -> None:
    seen: dict[str, tuple[str, ...]] = {}

    def record(key: str) -> None:
        seen[key] = current_betas()

    early = threading.Thread(target=record, args=("created outside, started inside",))
    with betas(ALPHA):
        made_in_alpha = threading.Thread(target=record, args=("created in alpha, started in beta",))
        later = threading.Thread(target=record, args=("created in alpha, started outside",))
    with betas(BETA):
        for thread in (early, made_in_alpha):
            thread.start()
            thread.join(10)
    later.start()
    later.join(10)
    assert seen == {
        "created outside, started inside": (),
        "created in alpha, started in beta": (ALPHA,),
        "created in alpha, started outside": (ALPHA,),
    }


class Payload:
    """A caller's local that nothing may keep alive."""


def made_in_a_scope() -> tuple[threading.Thread, weakref.ref[Payload]]:
    payload = Payload()
    ref = weakref.ref(payload)
    with betas(ALPHA):
        thread = threading.Thread(target=jobs.seen)
    return thread, ref


@pytest.mark.usefixtures("installed")
def test_a_thread_and_a_pending_job_keep_nothing_of_the_callers_stack() -> None:
    thread, ref = made_in_a_scope()
    gc.collect()
    assert ref() is None
    thread.start()
    thread.join(10)
    release = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(release.wait, 10)  # the worker is busy: the next job waits in the queue

        def submit() -> tuple[Any, weakref.ref[Payload]]:
            payload = Payload()
            with betas(ALPHA):
                return pool.submit(jobs.seen), weakref.ref(payload)

        future, ref = submit()
        gc.collect()
        assert ref() is None
        release.set()
        assert future.result(10) == (ALPHA,)


@pytest.mark.usefixtures("installed")
def test_multiprocessing_thread_pools() -> None:
    # A ThreadPool's workers and handler threads are made where it is built: none of that scope.
    called_back: list[tuple[str, ...]] = []
    with betas(ALPHA):
        pool = multiprocessing.pool.ThreadPool(2)
    with pool:
        assert pool.apply(current_betas) == ()
        with betas(BETA):
            assert pool.apply(current_betas) == (BETA,)
            assert pool.map(jobs.seen, [1, 2]) == [(BETA,)] * 2
            pool.apply_async(current_betas, callback=lambda _: called_back.append(current_betas())).get(10)
        assert list(pool.imap_unordered(jobs.seen, [1, 2])) == [(), ()]
    pool.join()
    assert called_back == [()]  # a callback runs in the pool's own thread, with none


def test_thread_contexts_from_python_314() -> None:
    # What `Thread(context=...)` gets under threads=True on 3.14 and later (see _thread_context).
    assert _carry._thread_context(inherit=False) is None  # no betas: Python's own empty context
    with betas(ALPHA):
        empty = _carry._thread_context(inherit=False)
        variable: contextvars.ContextVar[str] = contextvars.ContextVar("other", default="unset")
        variable.set("creator's")
        inherited = _carry._thread_context(inherit=True)
    assert empty is not None
    assert empty.run(current_betas) == (ALPHA,)
    assert empty.run(variable.get) == "unset"  # only the betas travel
    assert inherited is not None
    assert inherited.run(current_betas) == (ALPHA,)
    assert inherited.run(variable.get) == "creator's"  # the creator's context, not the starter's
