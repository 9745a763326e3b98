"""`carry(fn)`: the names travel as data - picklable, checked where they run, holding no frames."""

from __future__ import annotations

import asyncio
import copy
import functools
import gc
import inspect
import pickle
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from beta_middleware import InvalidBetaError, UnknownBetaWarning, betas, carry, current_betas
from beta_middleware._core import known as _known
from beta_middleware._core.carry import Carried

from . import jobs


def test_a_carried_callable_pickles_as_its_function_and_the_names() -> None:
    with betas("alpha-2025-01-01"), betas("beta-2025-02-02"):
        carried = carry(jobs.tagged)
    assert carried.__reduce__() == (Carried, (jobs.tagged, ("alpha-2025-01-01", "beta-2025-02-02")))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(carried, protocol))
        assert again(1) == (1, ("alpha-2025-01-01", "beta-2025-02-02"))
        assert current_betas() == ()
    assert copy.deepcopy(carried)(2) == (2, ("alpha-2025-01-01", "beta-2025-02-02"))
    assert copy.copy(carried)(3) == (3, ("alpha-2025-01-01", "beta-2025-02-02"))
    # what it looks like: its function
    assert again.__name__ == "tagged"
    assert again.__wrapped__ is jobs.tagged
    assert inspect.signature(again) == inspect.signature(jobs.tagged)
    assert repr(again) == f"carry({jobs.tagged!r}) with betas ('alpha-2025-01-01', 'beta-2025-02-02')"


def test_no_betas_travel_as_none() -> None:
    carried = pickle.loads(pickle.dumps(carry(jobs.seen)))
    with betas("caller-2025-01-01"):
        assert carried() == ()  # exactly what was active at `carry`: nothing
        assert current_betas() == ("caller-2025-01-01",)


def test_a_partial_and_a_bound_method_pickle_too() -> None:
    with betas("alpha-2025-01-01"):
        partial = carry(functools.partial(jobs.tagged, "p"))
        method = carry(" ".join)
    assert pickle.loads(pickle.dumps(partial))() == ("p", ("alpha-2025-01-01",))
    assert pickle.loads(pickle.dumps(method))(["a", "b"]) == "a b"


def test_an_unpicklable_function_fails_when_pickled_naming_it() -> None:
    def local_job() -> None:
        pass

    unpicklable: list[tuple[Callable[[], None], str]] = [(lambda: None, "<lambda>"), (local_job, "local_job")]
    for fn, named in unpicklable:
        with betas("alpha-2025-01-01"):
            carried = carry(fn)
        with pytest.raises((pickle.PicklingError, AttributeError)) as raised:
            pickle.dumps(carried)
        assert named in str(raised.value)
        assert carried() is None  # still usable in this process


class Payload:
    """A caller's local that nothing may keep alive."""


def carried_in_a_scope() -> tuple[Callable[..., Any], weakref.ref[Payload]]:
    payload = Payload()
    ref = weakref.ref(payload)

    def inner() -> Callable[..., Any]:
        with betas("alpha-2025-01-01"):
            return carry(jobs.seen)

    return inner(), ref


def test_a_carried_callable_keeps_nothing_of_the_callers_stack() -> None:
    carried, ref = carried_in_a_scope()
    gc.collect()
    assert ref() is None  # the caller's local is gone; the carried callable lives
    assert carried() == ("alpha-2025-01-01",)
    thread = threading.Thread(target=carried)
    thread.start()
    thread.join()
    gc.collect()
    assert ref() is None


def test_names_that_came_as_data_are_checked_where_the_call_runs() -> None:
    # as another release of the package, or a hand-made pickle, could send them
    for bad in (("alpha-2025-01-01", "two names"), (5,)):
        carried = pickle.loads(pickle.dumps(Carried(jobs.seen, bad)))  # type: ignore[arg-type]
        with betas("caller-2025-01-01"):
            with pytest.raises(InvalidBetaError, match=r"invalid beta name"):
                carried()
            assert current_betas() == ("caller-2025-01-01",)  # nothing was activated


def test_a_likely_typo_warns_where_the_call_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        pytest.warns(UnknownBetaWarning, match="did you mean 'files-api-2025-04-14'"),
        betas("file-api-2025-04-14"),
    ):
        carried = carry(jobs.seen)
    data = pickle.dumps(carried)
    monkeypatch.setattr(_known, "_checked", set())  # as in another process: no name seen yet
    again = pickle.loads(data)
    with pytest.warns(UnknownBetaWarning, match="did you mean 'files-api-2025-04-14'"):
        assert again() == ("file-api-2025-04-14",)
    assert again() == ("file-api-2025-04-14",)  # checked once: no second warning


def test_each_call_leaves_the_calling_thread_as_it_was() -> None:
    with betas("alpha-2025-01-01"):
        carried = carry(jobs.leave_open)
    with betas("caller-2025-01-01"):
        assert carried("left-2025-01-01") == ("alpha-2025-01-01", "left-2025-01-01")
        assert current_betas() == ("caller-2025-01-01",)  # what the job left entered is gone
    assert current_betas() == ()


def test_carried_from_many_threads_at_once() -> None:
    barrier = threading.Barrier(4)

    def job(i: int) -> tuple[int, tuple[str, ...]]:
        barrier.wait(5)
        with betas(f"n{i}"):
            return i, current_betas()

    with betas("alpha-2025-01-01"):
        carried = carry(job)
    results: list[tuple[int, tuple[str, ...]]] = []

    def run(i: int) -> None:
        with betas(f"thread-{i}"):
            results.append(carried(i))
            assert current_betas() == (f"thread-{i}",)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [(i, ("alpha-2025-01-01", f"n{i}")) for i in range(4)]


async def test_an_async_function_carried() -> None:
    async def job() -> tuple[str, ...]:
        await asyncio.sleep(0)
        return current_betas()

    with betas("alpha-2025-01-01"):
        carried = carry(job)
    outside = carry(job)
    async with betas("caller-2025-01-01"):
        assert await carried() == ("alpha-2025-01-01",)
        assert await outside() == ()
        together = await asyncio.gather(carried(), outside(), carried())
        assert list(together) == [("alpha-2025-01-01",), (), ("alpha-2025-01-01",)]
        assert current_betas() == ("caller-2025-01-01",)
    assert carried.__name__ == "job"
    with betas("alpha-2025-01-01"):
        later = carry(jobs.seen_later)
    assert await pickle.loads(pickle.dumps(later))() == ("alpha-2025-01-01",)
    if sys.version_info >= (3, 12):  # markcoroutinefunction: from 3.12
        assert inspect.iscoroutinefunction(later)
    assert inspect.iscoroutinefunction(type(later).__call__)  # what frameworks look at on older Pythons


class Job:
    """A class as the carried callable, with a `__reduce__` of its own instances'."""

    def __init__(self, x: int = 0) -> None:
        self.seen = (x, current_betas())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Job, ())


def test_a_class_carried() -> None:
    with betas("alpha-2025-01-01"):
        carried = carry(Job)
    again = pickle.loads(pickle.dumps(carried))
    assert again(1).seen == (1, ("alpha-2025-01-01",))
    assert again.__name__ == "Job"
