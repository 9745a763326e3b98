"""Process pools: every job runs with its submitter's betas - none if none - under every start method.

Real pools: `concurrent.futures.ProcessPoolExecutor` and `multiprocessing` pools under fork,
spawn and forkserver, joblib's loky; a request sent from a worker to the loopback server.
The jobs live in tests/jobs.py, which a spawned worker imports with nothing but the package.
"""

from __future__ import annotations

import contextvars
import multiprocessing
import multiprocessing.pool
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from pathlib import Path

import pytest

from beta_middleware import InvalidBetaError, betas, carry, current_betas, install, uninstall
from beta_middleware._core import known as _known
from beta_middleware._core.carry import Carried
from beta_middleware._install import installation as install_module
from beta_middleware._install import processes as _processes

from . import jobs
from .server import Server

ALPHA, BETA, GAMMA = "alpha-2025-01-01", "beta-2025-02-02", "gamma-2025-03-03"
WAIT = 60  # seconds: a bound on every result

# Python 3.12 warns when a process with threads forks (the test process has some): the
# workers here only run the small jobs of tests/jobs.py.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@contextmanager
def closing(pool: multiprocessing.pool.Pool) -> Iterator[multiprocessing.pool.Pool]:
    """`pool`, whose workers exit on their own at the end (`close`, `join`).

    A pool's `__exit__` terminates its workers while they may still be exiting after the
    last job; under coverage that cuts a worker's data file off mid-write.
    """
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()


@pytest.fixture(autouse=True)
def _uninstalled() -> Iterator[None]:
    assert install_module.installed() is None
    try:
        yield
    finally:
        uninstall()


@pytest.fixture(params=["fork", "spawn", "forkserver"])
def context(request: pytest.FixtureRequest) -> BaseContext:
    method: str = request.param
    return multiprocessing.get_context(method)


def test_executor_jobs_bring_their_submitters_betas(context: BaseContext) -> None:
    with install(processes=True), ProcessPoolExecutor(1, mp_context=context) as pool:
        with betas(ALPHA):
            first_pid, first = pool.submit(jobs.pid_and_betas).result(WAIT)  # the worker starts here
        assert first == (ALPHA,)
        pid, outside = pool.submit(jobs.pid_and_betas).result(WAIT)
        assert (pid, outside) == (first_pid, ())  # the same worker, none of that scope
        with betas(BETA):
            assert list(pool.map(jobs.seen, range(3), timeout=WAIT)) == [(BETA,)] * 3
            assert list(pool.map(jobs.seen, range(5), chunksize=2, timeout=WAIT)) == [(BETA,)] * 5
            with betas(GAMMA, replace=True):
                assert pool.submit(jobs.seen).result(WAIT) == (GAMMA,)
        assert list(pool.map(jobs.seen, range(2), timeout=WAIT)) == [(), ()]


def test_multiprocessing_pools_every_method(context: BaseContext) -> None:
    with install(processes=True):
        with betas(GAMMA):
            pool = context.Pool(2)  # its workers start here: none of this scope
        with closing(pool):
            assert pool.apply(jobs.seen) == ()
            with betas(ALPHA):
                expected = (ALPHA,)
                assert pool.apply(jobs.seen) == expected
                assert pool.apply_async(jobs.seen).get(WAIT) == expected
                assert pool.map(jobs.seen, range(4)) == [expected] * 4
                assert pool.map(jobs.seen, range(4), chunksize=3) == [expected] * 4
                assert pool.map_async(jobs.seen, range(2)).get(WAIT) == [expected] * 2
                assert list(pool.imap(jobs.seen, range(3))) == [expected] * 3
                assert list(pool.imap(jobs.seen, range(3), chunksize=2)) == [expected] * 3
                assert list(pool.imap_unordered(jobs.seen, range(3))) == [expected] * 3
                assert pool.starmap(jobs.tagged, [(1, 2), (3, 4)]) == [(1, expected), (3, expected)]
                assert pool.starmap_async(jobs.tagged, [(5,)]).get(WAIT) == [(5, expected)]
            assert pool.map(jobs.seen, range(4)) == [()] * 4
            assert list(pool.imap_unordered(jobs.seen, range(2))) == [(), ()]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_no_job_sees_another_s(method: str) -> None:
    # Four submitting threads, each in its own scope (or none), share two workers.
    context = multiprocessing.get_context(method)
    results: dict[int, list[tuple[object, tuple[str, ...]]]] = {}
    with install(processes=True), ProcessPoolExecutor(2, mp_context=context) as pool:
        pool.submit(jobs.seen).result(WAIT)  # the workers start before the submitters do
        barrier = threading.Barrier(4)

        def submitter(i: int) -> None:
            names = () if i == 0 else (f"n{i}-2025-01-01",)
            barrier.wait(WAIT)
            with betas(*names):
                futures = [pool.submit(jobs.tagged, (i, k)) for k in range(8)]
            results[i] = [f.result(WAIT) for f in futures]

        threads = [threading.Thread(target=submitter, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    assert sorted(results) == [0, 1, 2, 3]
    for i, got in results.items():
        names = () if i == 0 else (f"n{i}-2025-01-01",)
        assert got == [((i, k), names) for k in range(8)]


def test_without_processes_a_worker_forked_in_a_scope_keeps_none(context: BaseContext) -> None:
    # The leak of a worker forked inside the first submission is closed by every
    # installation; without processes=True a job brings no betas either.
    for threads in (False, True):
        with install(threads=threads), ProcessPoolExecutor(1, mp_context=context) as pool:
            with betas(ALPHA):
                assert pool.submit(jobs.seen).result(WAIT) == ()
                with closing(context.Pool(1)) as mp_pool:
                    assert mp_pool.apply(jobs.seen) == ()
            assert pool.submit(jobs.seen).result(WAIT) == ()


def test_not_installed_a_forked_worker_keeps_the_scope_it_was_forked_in() -> None:
    # Documented (docs/processes.md): without install(), Python's own fork semantics.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        with betas(ALPHA):
            pool.submit(jobs.seen).result(WAIT)
        assert pool.submit(jobs.seen).result(WAIT) == (ALPHA,)


def test_a_pool_forked_before_install_runs_each_job_with_its_own() -> None:
    context = multiprocessing.get_context("fork")
    with betas(ALPHA):
        pool = context.Pool(1)  # not installed: its worker keeps this scope
    with closing(pool):
        assert pool.apply(jobs.seen) == (ALPHA,)
        with install(processes=True):
            assert pool.apply(jobs.seen) == ()
            with betas(BETA):
                assert pool.apply(jobs.seen) == (BETA,)


def test_carry_without_install(context: BaseContext) -> None:
    with betas(ALPHA):
        job = carry(jobs.seen)
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        with betas(BETA):
            assert pool.submit(job).result(WAIT) == (ALPHA,)  # the carried names, not these
        assert pool.submit(job).result(WAIT) == (ALPHA,)
    with closing(context.Pool(1)) as mp_pool:
        assert mp_pool.map(job, range(2)) == [(ALPHA,)] * 2


def test_joblib_loky() -> None:
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    with betas(ALPHA):
        job = carry(jobs.tagged)
    try:
        with betas(BETA):
            results = Parallel(n_jobs=2, timeout=WAIT)(delayed(job)(x) for x in range(4))
            plain = Parallel(n_jobs=2, timeout=WAIT)(delayed(jobs.tagged)(x) for x in range(2))
    finally:
        # loky keeps its workers for the next Parallel: not for another test's (whose
        # modules they could not import)
        get_reusable_executor().shutdown(wait=True)
    assert results == [(x, (ALPHA,)) for x in range(4)]
    assert plain == [(0, ()), (1, ())]  # loky starts fresh interpreters: nothing travels unasked


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_request_sent_from_a_worker_carries_the_betas(server: Server, method: str) -> None:
    url = server.url_for("/echo")
    context = multiprocessing.get_context(method)
    with install(hosts=["127.0.0.1"], processes=True), ProcessPoolExecutor(1, mp_context=context) as pool:
        with betas(ALPHA, BETA):
            assert pool.submit(jobs.send, url).result(WAIT) == f"{ALPHA},{BETA}"
        assert pool.submit(jobs.send, url).result(WAIT) is None
        with betas(GAMMA):
            assert pool.submit(jobs.send, url).result(WAIT) == GAMMA
    assert server.betas == [f"{ALPHA},{BETA}", None, GAMMA]  # on the wire


def test_an_unpicklable_job_fails_when_sent_naming_it() -> None:
    context = multiprocessing.get_context("spawn")

    def local_job() -> None:
        pass

    with install(processes=True), ProcessPoolExecutor(1, mp_context=context) as pool:
        with betas(ALPHA):
            future = pool.submit(local_job)
        with pytest.raises((pickle.PicklingError, AttributeError), match="local_job"):
            future.result(WAIT)
        assert pool.submit(jobs.seen).result(WAIT) == ()  # the pool works on
        with (
            closing(context.Pool(1)) as mp_pool,
            pytest.raises((pickle.PicklingError, AttributeError), match="lambda"),
        ):
            mp_pool.apply(lambda: None)


def test_names_are_checked_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    context = multiprocessing.get_context("spawn")
    monkeypatch.setattr(_known, "_checked", set())  # whatever this process has warned already
    with pytest.warns(Warning, match="did you mean 'files-api-2025-04-14'"), betas("file-api-2025-04-14"):
        typo = carry(jobs.seen)
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        result, warned = pool.submit(jobs.warned, typo).result(WAIT)
        assert result == ("file-api-2025-04-14",)
        # a worker is another process: it warns there too
        assert warned == [
            "UnknownBetaWarning: unknown beta name 'file-api-2025-04-14': "
            "did you mean 'files-api-2025-04-14'?"
        ]
        with pytest.raises(InvalidBetaError, match="'two names'"):
            pool.submit(Carried(jobs.seen, ("two names",))).result(WAIT)


def test_the_after_fork_hook() -> None:
    with betas(ALPHA):
        forked = contextvars.copy_context()  # a child's context, as fork copies it
    with install() as installation:
        forked.run(_processes.started, installation)
    assert forked.run(current_betas) == ()
    with betas(ALPHA):
        forked = contextvars.copy_context()
    forked.run(_processes.started, installation)  # uninstalled: nothing
    assert forked.run(current_betas) == (ALPHA,)


def child(conn: multiprocessing.connection.Connection, *args: object) -> None:  # pragma: no cover - a child
    conn.send(current_betas())
    conn.close()


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork")
def test_a_plain_fork_goes_on_inside_its_with_a_process_starts_with_none() -> None:
    context = multiprocessing.get_context("fork")
    with install(), betas(ALPHA):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(write, ",".join(current_betas()).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 100).decode() == ALPHA  # as Python makes it: the child is in the block
        os.close(read)
        for target, expected in ((child, ()), (carry(child), (ALPHA,))):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=target, args=(child_end,))
            process.start()
            assert parent_end.recv() == expected
            process.join(WAIT)


def test_the_pool_benchmark_runs() -> None:
    from benchmarks import pools

    figures = pools.measure(1, methods=["fork"], jobs=["beta_middleware.current_betas"])
    assert set(figures) == {(kind, "fork", "beta_middleware.current_betas") for kind in pools.KINDS}
    assert all(plain > 0 for plain, _, _ in figures.values())


def test_install_imports_no_pool_module_and_patches_them_when_imported() -> None:
    code = """
import sys
import beta_middleware
installation = beta_middleware.install(threads=True, processes=True)
modules = ("multiprocessing", "multiprocessing.util", "multiprocessing.pool", "concurrent.futures.process")
print([name for name in modules if name in sys.modules])
import concurrent.futures, multiprocessing.pool
patched = (concurrent.futures.ProcessPoolExecutor.submit, multiprocessing.pool.Pool.map)
print([method.__code__.co_filename.rsplit("/", 2)[-2:] for method in patched])
installation.uninstall()
patched = (concurrent.futures.ProcessPoolExecutor.submit, multiprocessing.pool.Pool.map)
print([method.__code__.co_filename.rsplit("/", 1)[-1] for method in patched])
"""
    # not measured: coverage's start-up in a child imports multiprocessing itself
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COV", "BETA_MIDDLEWARE"))}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT, env=environ, check=True
    )
    assert done.stdout.splitlines() == [
        "[]",
        "[['_install', 'processes.py'], ['_install', 'processes.py']]",
        "['process.py', 'pool.py']",
    ]


def test_a_worker_that_runs_a_job_imports_only_the_scopes() -> None:
    # What a spawned worker unpickles: `Job`, whose module brings the scopes and the name
    # checks - not the header rules, the refusals' parser or the installation.
    with betas("files-api-2025-04-14"):
        job = pickle.dumps(carry(jobs.seen))
    code = f"""
import pickle, sys
job = pickle.loads({job!r})
print(*job(), sorted(m for m in sys.modules if m.startswith("beta_middleware.")))
"""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COV", "BETA_MIDDLEWARE"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=environ,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    core = [f"beta_middleware._core{part}" for part in ("", ".carry", ".errors", ".known", ".names")]
    core += ["beta_middleware._core.scope", "beta_middleware._core.tokens"]
    assert done.stdout.strip() == f"files-api-2025-04-14 {core}"
