from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from beta_middleware import BetaScope, betas, current_betas


def test_nothing_is_active_by_default() -> None:
    assert current_betas() == ()


def test_nested_scopes_add_up_outer_first_each_name_once() -> None:
    with betas("a", "b"):
        assert current_betas() == ("a", "b")
        with betas("c", "a", "d"):
            assert current_betas() == ("a", "b", "c", "d")
            with betas("b"):
                assert current_betas() == ("a", "b", "c", "d")
        assert current_betas() == ("a", "b")
    assert current_betas() == ()


def test_iterables_are_flattened_one_level() -> None:
    with betas(["a", "b"], "c", ("d",)):
        assert current_betas() == ("a", "b", "c", "d")


def test_replace_replaces_everything_active() -> None:
    with betas("a", "b"):
        with betas("c", replace=True):
            assert current_betas() == ("c",)
            with betas("d"):
                assert current_betas() == ("c", "d")
        assert current_betas() == ("a", "b")


def test_replace_with_no_names_turns_context_betas_off() -> None:
    with betas("a"), betas(replace=True):
        assert current_betas() == ()


def test_a_scope_with_no_names_changes_nothing() -> None:
    with betas("a"), betas():
        assert current_betas() == ("a",)


def test_exit_on_exception_restores_and_propagates() -> None:
    with betas("outer"):
        with pytest.raises(KeyError), betas("inner"):
            raise KeyError("boom")
        assert current_betas() == ("outer",)


def test_enter_returns_the_scope_and_repr_shows_the_call() -> None:
    scope = betas("a", ["b"], replace=True)
    with scope as entered:
        assert entered is scope
    assert isinstance(scope, BetaScope)
    assert scope.names == ("a", "b")
    assert scope.replace is True
    assert repr(scope) == "betas('a', 'b', replace=True)"
    assert repr(betas("x")) == "betas('x')"


def test_one_scope_object_entered_again_and_nested() -> None:
    scope = betas("s")
    with betas("a"):
        with scope:
            assert current_betas() == ("a", "s")
            with betas("b"), scope:
                assert current_betas() == ("a", "s", "b")
            assert current_betas() == ("a", "s")
        assert current_betas() == ("a",)
        with scope:
            assert current_betas() == ("a", "s")
    assert current_betas() == ()


def test_one_scope_object_entered_from_eight_threads_at_once() -> None:
    scope = betas("shared")
    barrier = threading.Barrier(8)
    seen: dict[int, list[tuple[str, ...]]] = {}

    def work(i: int) -> None:
        own = betas(f"thread-{i}")
        log = seen.setdefault(i, [])
        with own:
            barrier.wait(5)
            for _ in range(200):
                with scope:
                    log.append(current_betas())
                log.append(current_betas())
        log.append(current_betas())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 8
    for i, log in seen.items():
        assert log[:-1] == [(f"thread-{i}", "shared"), (f"thread-{i}",)] * 200
        assert log[-1] == ()


def test_scopes_left_out_of_order_take_only_their_own_names() -> None:
    a, b = betas("a"), betas("b")
    a.__enter__()
    b.__enter__()
    assert current_betas() == ("a", "b")
    a.__exit__(None, None, None)  # out of order
    assert current_betas() == ("b",)
    b.__exit__(None, None, None)
    assert current_betas() == ()


def test_leaving_a_scope_that_is_not_active_changes_nothing() -> None:
    with betas("a"):
        betas("never-entered").__exit__(None, None, None)
        assert current_betas() == ("a",)


def test_out_of_order_exit_rebuilds_replace_scopes_above() -> None:
    a, r = betas("a"), betas("r", replace=True)
    with betas("base"):
        a.__enter__()
        r.__enter__()
        with betas("top"):
            a.__exit__(None, None, None)
            assert current_betas() == ("r", "top")
        r.__exit__(None, None, None)
        assert current_betas() == ("base",)


def test_the_joined_names_follow_the_active_names_through_every_exit() -> None:
    # Integrations read the header value from a context variable of its own: it must
    # always be the active names joined, however scopes are entered and left.
    from beta_middleware._scope import _joined

    def check() -> None:
        assert _joined.get() == ",".join(current_betas())

    a, b, r = betas("a"), betas("b", "a"), betas("r", replace=True)
    check()
    a.__enter__()
    b.__enter__()
    r.__enter__()
    check()
    with betas("top"):
        a.__exit__(None, None, None)  # out of order, under a replace scope
        check()
        betas("never-entered").__exit__(None, None, None)
        check()
    check()
    r.__exit__(None, None, None)
    check()
    assert _joined.get() == "b,a"
    b.__exit__(None, None, None)
    check()
    assert _joined.get() == ""

    def fail_inside() -> None:
        with betas("c"):
            check()
            raise KeyError

    with pytest.raises(KeyError):
        fail_inside()
    check()


async def test_async_with() -> None:
    async with betas("a"):
        assert current_betas() == ("a",)
        async with betas("b"):
            assert current_betas() == ("a", "b")
    assert current_betas() == ()


def test_decorator_on_def_enters_on_each_call() -> None:
    @betas("deco")
    def f(x: int) -> tuple[tuple[str, ...], int]:
        return current_betas(), x

    assert f.__name__ == "f"
    assert current_betas() == ()
    with betas("outer"):
        assert f(1) == (("outer", "deco"), 1)
    assert f(2) == (("deco",), 2)
    assert current_betas() == ()


async def test_decorator_on_async_def_enters_inside_the_call() -> None:
    @betas("deco")
    async def f() -> tuple[str, ...]:
        await asyncio.sleep(0)
        return current_betas()

    coro = f()  # made outside any scope, run inside one: the scope is the call's
    with betas("outer"):
        assert await coro == ("outer", "deco")
    assert await f() == ("deco",)
    assert asyncio.iscoroutinefunction(f)


def test_decorator_exits_on_exception() -> None:
    @betas("deco")
    def f() -> None:
        raise RuntimeError

    with pytest.raises(RuntimeError):
        f()
    assert current_betas() == ()


def test_decorator_refuses_generators_and_non_callables() -> None:
    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        betas("a")(gen)
    with pytest.raises(TypeError, match="generator function"):
        betas("a")(agen)
    with pytest.raises(TypeError, match="decorates a function"):
        betas("a")(42)  # type: ignore[arg-type]


def test_generator_closed_from_another_context_does_not_raise() -> None:
    def holder() -> Generator[tuple[str, ...], None, None]:
        with betas("gen"):
            yield current_betas()

    gen = holder()
    ctx = contextvars.copy_context()
    assert ctx.run(next, gen) == ("gen",)
    assert current_betas() == ()
    gen.close()  # closed here, where it never entered its scope
    assert current_betas() == ()
    assert ctx.run(current_betas) == ("gen",)  # the entering context is left as it was


def test_generator_collected_in_another_thread_does_not_raise() -> None:
    errors: list[BaseException] = []

    def holder() -> Generator[int, None, None]:
        with betas("gen"):
            yield 1

    ctx = contextvars.copy_context()
    gen = holder()
    ctx.run(next, gen)

    def close() -> None:
        try:
            gen.close()
        except BaseException as exc:  # pragma: no cover - the failure this test catches
            errors.append(exc)

    t = threading.Thread(target=close)
    t.start()
    t.join(5)
    assert errors == []


async def test_async_generator_closed_from_another_task_does_not_raise() -> None:
    async def holder() -> AsyncGenerator[tuple[str, ...], None]:
        async with betas("agen"):
            yield current_betas()

    agen = holder()

    async def start() -> tuple[str, ...]:
        return await anext(agen)

    first = await asyncio.create_task(start())  # entered in another task's context
    assert first == ("agen",)
    assert current_betas() == ()
    await agen.aclose()  # closed in this one
    assert current_betas() == ()


async def test_async_generator_finalized_by_the_loop_does_not_raise() -> None:
    loop = asyncio.get_running_loop()
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))

    async def holder() -> AsyncIterator[int]:
        with betas("agen"):
            yield 1

    async def start() -> None:
        agen = holder()
        await anext(agen)  # suspended inside the scope, then dropped

    await asyncio.create_task(start())
    gc.collect()
    await asyncio.sleep(0.01)
    assert errors == []
    assert current_betas() == ()


async def test_hundreds_of_tasks_are_isolated() -> None:
    async def task(i: int) -> list[tuple[str, ...]]:
        seen = []
        with betas(f"task-{i}"):
            for j in range(3):
                await asyncio.sleep(0)
                with betas(f"step-{j}"):
                    await asyncio.sleep(0)
                    seen.append(current_betas())
        seen.append(current_betas())
        return seen

    with betas("parent"):
        results = await asyncio.gather(*(task(i) for i in range(500)))
    for i, seen in enumerate(results):
        assert seen == [("parent", f"task-{i}", f"step-{j}") for j in range(3)] + [("parent",)]


async def test_tasks_see_the_betas_active_where_they_were_created() -> None:
    async def read() -> tuple[str, ...]:
        return current_betas()

    with betas("at-creation"):
        task = asyncio.create_task(read())
    with betas("at-await"):
        assert await task == ("at-creation",)


def test_a_plain_thread_sees_no_betas() -> None:
    seen: list[tuple[str, ...]] = []
    with betas("caller"):
        t = threading.Thread(target=lambda: seen.append(current_betas()))
        t.start()
        t.join(5)
    assert seen == [()]


def test_the_documented_way_carries_betas_into_a_worker() -> None:
    with betas("caller"), ThreadPoolExecutor(2) as pool:
        carried = pool.submit(contextvars.copy_context().run, current_betas).result(5)
        plain = pool.submit(current_betas).result(5)
    assert carried == ("caller",)
    assert plain == ()


async def test_to_thread_carries_betas() -> None:
    with betas("caller"):
        assert await asyncio.to_thread(current_betas) == ("caller",)
