from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import re
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import beta_middleware
from beta_middleware import BetaScope, InvalidBetaError, betas, current_betas
from beta_middleware._core.header import Rules


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
    from beta_middleware._core.scope import current as _current

    def _joined() -> str:
        return _current.get().joined

    def check() -> None:
        assert _joined() == ",".join(current_betas())

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
    assert _joined() == "b,a"
    b.__exit__(None, None, None)
    check()
    assert _joined() == ""

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


# A generator or async generator holding a scope, started in one context and closed in
# another that has entered the same scope object: the closing context stays as it was.


def test_generator_closed_inside_the_same_scope_object_leaves_the_closer_alone() -> None:
    shared = betas("s")

    def holder() -> Generator[tuple[str, ...], None, None]:
        with shared:
            yield current_betas()

    closes: list[Callable[[Generator[tuple[str, ...], None, None]], object]] = [
        lambda g: g.close(),
        lambda g: next(g, None),
        lambda g: g.throw(KeyError),
    ]
    for close in closes:
        gen = holder()
        ctx = contextvars.copy_context()
        assert ctx.run(next, gen) == ("s",)
        with betas("a"), shared:
            before = current_betas()
            with contextlib.suppress(KeyError):
                close(gen)
            assert current_betas() == before == ("a", "s")
        assert current_betas() == ()
        assert ctx.run(current_betas) == ("s",)  # what entered it there is not left there


def test_generator_closed_under_nested_entries_of_the_same_object() -> None:
    shared = betas("s")

    def holder() -> Generator[None, None, None]:
        with shared, shared:
            yield

    gen = holder()
    contextvars.copy_context().run(next, gen)
    with shared, betas("b"), shared:
        gen.close()
        assert current_betas() == ("s", "b")
    assert current_betas() == ()


def test_generator_started_and_closed_here_takes_only_its_own_entry() -> None:
    shared = betas("s")

    def holder() -> Generator[None, None, None]:
        with shared, betas("g"):
            yield

    gen = holder()
    next(gen)  # its entry is in this context, under the one made below
    assert current_betas() == ("s", "g")
    with shared:
        gen.close()
        assert current_betas() == ("s",)
    assert current_betas() == ()


@pytest.mark.parametrize("by_exit_stack", [False, True], ids=["with", "exit-stack"])
def test_generator_closed_in_another_thread_inside_the_same_scope_object(by_exit_stack: bool) -> None:
    # The closing thread entered the same object with `with`, or from another frame.
    shared = betas("s")
    seen: list[tuple[str, ...]] = []

    def holder() -> Generator[None, None, None]:
        with shared:
            yield

    gen = holder()
    ctx = contextvars.copy_context()
    ctx.run(next, gen)

    def closing() -> None:
        gen.close()
        seen.append(current_betas())

    def close() -> None:
        if by_exit_stack:
            with contextlib.ExitStack() as stack:
                stack.enter_context(shared)
                closing()
        else:
            with shared:
                closing()
        seen.append(current_betas())

    t = threading.Thread(target=close)
    t.start()
    t.join(5)
    assert seen == [("s",), ()]
    assert ctx.run(current_betas) == ("s",)  # the entering context keeps its entry


async def test_async_generator_closed_by_a_task_inside_the_same_scope_object() -> None:
    shared = betas("s")

    async def holder() -> AsyncGenerator[tuple[str, ...], None]:
        async with shared:
            yield current_betas()

    for with_async in (True, False):
        agen = holder()

        async def start(agen: AsyncGenerator[tuple[str, ...], None] = agen) -> tuple[str, ...]:
            return await anext(agen)

        assert await asyncio.create_task(start()) == ("s",)  # entered in that task
        if with_async:
            async with betas("a"), shared:
                await agen.aclose()
                assert current_betas() == ("a", "s")
        else:
            with betas("a"), shared:
                await agen.aclose()
                assert current_betas() == ("a", "s")
        assert current_betas() == ()


async def test_async_generator_closed_from_another_task_inside_the_same_scope() -> None:
    shared = betas("s")

    async def holder() -> AsyncGenerator[None, None]:
        with shared:
            yield

    agen = holder()

    async def start() -> tuple[str, ...]:
        await anext(agen)
        return current_betas()

    async def close() -> tuple[tuple[str, ...], tuple[str, ...]]:
        async with shared:
            await agen.aclose()
            inside = current_betas()
        return inside, current_betas()

    assert await asyncio.create_task(start()) == ("s",)
    assert await asyncio.create_task(close()) == (("s",), ())
    assert current_betas() == ()


def test_generator_closed_where_the_same_object_was_entered_from_another_frame() -> None:
    # The closing context's entry was made by a frame that is no longer running (an
    # ExitStack's `enter_context`, a fixture's set-up): it is still not the generator's.
    shared = betas("s")

    def holder() -> Generator[None, None, None]:
        with shared:
            yield

    def set_up() -> None:
        shared.__enter__()

    def tear_down() -> None:
        shared.__exit__(None, None, None)

    def by_exit_stack(close: Callable[[], object]) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(betas("a"))
            stack.enter_context(shared)
            close()
            assert current_betas() == ("a", "s")
        assert current_betas() == ()

    def by_set_up(close: Callable[[], object]) -> None:
        set_up()
        close()
        assert current_betas() == ("s",)
        tear_down()
        assert current_betas() == ()

    closes: list[Callable[[Generator[None, None, None]], object]] = [
        lambda g: g.close(),
        lambda g: next(g, None),
        lambda g: g.throw(KeyError),
    ]
    for enter in (by_exit_stack, by_set_up):
        for close in closes:
            gen = holder()
            ctx = contextvars.copy_context()
            ctx.run(next, gen)

            def closing(gen: Generator[None, None, None] = gen, close: Any = close) -> None:
                with contextlib.suppress(KeyError):
                    close(gen)

            enter(closing)
            assert ctx.run(current_betas) == ("s",)  # what entered it there is not left there
    assert not shared._open  # every entry left: no frame is kept


async def test_async_generator_closed_where_an_async_exit_stack_entered_the_same_object() -> None:
    shared = betas("s")

    async def holder() -> AsyncGenerator[None, None]:
        async with shared:
            yield

    agen = holder()

    async def start() -> None:
        await anext(agen)

    await asyncio.create_task(start())
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(shared)
        stack.enter_context(betas("a"))
        await agen.aclose()
        assert current_betas() == ("s", "a")
    assert current_betas() == ()
    assert not shared._open


def test_exit_stack_entries_are_left_by_the_stack() -> None:
    # Entered by `enter_context`, left by the stack's own exit: another Python frame.
    shared = betas("s")
    with shared:
        with contextlib.ExitStack() as stack:
            stack.enter_context(betas("a"))
            stack.enter_context(shared)
            assert current_betas() == ("s", "a")
        assert current_betas() == ("s",)
        stack = contextlib.ExitStack()
        stack.enter_context(shared)
    stack.close()  # left out of order, from another frame: the stack's entry goes
    assert current_betas() == ()


async def test_async_exit_stack_entries_are_left_by_the_stack() -> None:
    shared = betas("s")
    async with shared:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(shared)
            stack.enter_context(betas("a"))
            await stack.enter_async_context(betas("b"))
            assert current_betas() == ("s", "a", "b")
        assert current_betas() == ("s",)
    assert current_betas() == ()


def test_entered_in_one_function_and_left_in_another() -> None:
    # A fixture's set-up and tear-down, unittest's setUp/tearDown.
    shared = betas("s")

    def set_up() -> None:
        shared.__enter__()

    def tear_down() -> None:
        shared.__exit__(None, None, None)

    with shared:
        set_up()
        with betas("a"):
            tear_down()  # the set-up's entry, not the running `with`'s
            assert current_betas() == ("s", "a")
        assert current_betas() == ("s",)
    assert current_betas() == ()


def test_one_object_entered_again_in_one_frame_leaves_innermost_first() -> None:
    shared = betas("s")
    with betas("a"), shared, betas("b"), shared, betas("c"):
        assert current_betas() == ("a", "s", "b", "c")
    assert current_betas() == ()
    shared.__enter__()
    with betas("b", replace=True):
        shared.__enter__()
        shared.__exit__(None, None, None)
        assert current_betas() == ("b",)
    shared.__exit__(None, None, None)
    assert current_betas() == ()


def test_a_scope_left_where_it_was_never_entered_changes_nothing_anywhere() -> None:
    shared = betas("s")

    def leave() -> None:
        shared.__exit__(None, None, None)

    with shared:
        leave()  # the running `with` is the only entry: it is not this exit's
        assert current_betas() == ("s",)
    assert current_betas() == ()


class _Interrupt(BaseException):
    """What a signal handler raises: at any bytecode."""


def _interrupted_at(n: int, body: Callable[[], object]) -> bool:
    """Run `body` with an exception raised at the `n`-th bytecode run in the package.

    Returns whether it was raised (False: `body` ran fewer bytecodes than that).
    """
    count = 0
    package = str(Path(beta_middleware.__file__).parent)

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
            if count == n:
                raise _Interrupt
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        if event == "call" and frame.f_code.co_filename.startswith(package):
            frame.f_trace_opcodes = True
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        body()
    except _Interrupt:
        return True
    finally:
        sys.settrace(previous)
    return False


def _agree() -> None:
    # what each kind of integration would send, against the active names
    expected = ",".join(current_betas())
    assert (Rules().header(None) or "") == expected
    assert Rules().value() == expected
    assert Rules(betas="f").value() == ",".join(dict.fromkeys(("f", *current_betas())))


def _scenarios() -> dict[str, Callable[[], object]]:
    a, b, r = betas("a"), betas("b", "a"), betas("r", replace=True)

    def nested() -> None:
        with a:
            _agree()
            with b, r:
                _agree()
            _agree()

    def out_of_order() -> None:
        a.__enter__()
        b.__enter__()
        with r:
            a.__exit__(None, None, None)
            _agree()
        b.__exit__(None, None, None)

    @betas("d")
    def decorated() -> None:
        _agree()

    async def coroutine() -> None:
        async with a, r:
            _agree()

    return {
        "nested": nested,
        "out of order": out_of_order,
        "decorated": decorated,
        "async": lambda: asyncio.run(coroutine()),
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_an_interrupt_anywhere_in_entering_or_leaving_keeps_header_and_names_in_step(name: str) -> None:
    # Every bytecode of entering and leaving scopes, in turn, raises as a signal handler
    # would: whatever state that leaves, what is sent equals `current_betas()`.
    body = _scenarios()[name]
    # CPython 3.12.1 delivers no opcode events to a code object's first traced frames when
    # `f_trace_opcodes` is set from the call event; one full traced run first makes it do so.
    assert not contextvars.copy_context().run(_interrupted_at, 10**9, body)
    interrupted = 0
    for n in range(1, 100_000):
        ctx = contextvars.copy_context()  # each attempt starts afresh
        if not ctx.run(_interrupted_at, n, body):
            break
        interrupted += 1
        ctx.run(_agree)
        with betas("after"):
            ctx.run(_agree)
    assert interrupted > 20  # the trace did reach the package's bytecodes


# The decorator on callables that return an awaitable without being `async def`.


class _AsyncCallable:
    async def __call__(self, x: int) -> tuple[tuple[str, ...], int]:
        await asyncio.sleep(0)
        return current_betas(), x


class _Awaitable:
    def __await__(self) -> Generator[None, None, tuple[str, ...]]:
        yield from asyncio.sleep(0).__await__()
        return current_betas()


async def _read() -> tuple[str, ...]:
    await asyncio.sleep(0)
    return current_betas()


def _returns_coroutine() -> Awaitable[tuple[str, ...]]:
    return _read()


def _returns_awaitable() -> Awaitable[tuple[str, ...]]:
    return _Awaitable()


@pytest.mark.parametrize(
    "func",
    [_returns_coroutine, _returns_awaitable, functools.partial(_read), lambda: _read()],
    ids=["def returning a coroutine", "def returning an awaitable", "partial", "lambda"],
)
async def test_decorator_covers_the_awaiting_of_what_a_call_returns(
    func: Callable[[], Awaitable[tuple[str, ...]]],
) -> None:
    decorated = betas("deco")(func)
    awaitable = decorated()  # made here, awaited inside another scope and in a task
    assert current_betas() == ()
    with betas("outer"):
        assert await awaitable == ("outer", "deco")
    assert await asyncio.create_task(decorated()) == ("deco",)  # type: ignore[arg-type]
    assert current_betas() == ()


async def test_decorator_on_an_object_with_async_call() -> None:
    decorated = betas("deco")(_AsyncCallable())
    assert await decorated(1) == (("deco",), 1)
    with betas("outer"):
        assert await decorated(2) == (("outer", "deco"), 2)
    assert current_betas() == ()


async def test_decorator_hands_back_futures_and_plain_values() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    assert betas("x")(lambda: future)() is future
    task = betas("x")(lambda: asyncio.ensure_future(_read()))()
    assert isinstance(task, asyncio.Task)
    assert await task == ("x",)  # a task made inside the scope runs in it
    assert betas("x")(lambda: 5)() == 5


async def test_decorator_on_async_partials_and_methods_stays_a_coroutine_function() -> None:
    class Holder:
        async def method(self) -> tuple[str, ...]:
            return current_betas()

    for func in (functools.partial(_read), Holder().method):
        decorated = betas("deco")(func)
        assert asyncio.iscoroutinefunction(decorated)
        assert await decorated() == ("deco",)


def test_decorator_refuses_generator_partials_and_methods() -> None:
    class Holder:
        def gen(self) -> Iterator[int]:
            yield 1

    def gen(x: int) -> Iterator[int]:
        yield x

    for func in (functools.partial(gen, 1), Holder().gen):
        with pytest.raises(TypeError, match="generator function"):
            betas("a")(func)


@pytest.mark.parametrize("replace", ["x", 1, 0, None, [], "False"])
def test_replace_must_be_a_bool(replace: object) -> None:
    with pytest.raises(
        TypeError, match=rf"replace=\.\.\.\) must be True or False, not {re.escape(repr(replace))}"
    ):
        betas("a", replace=replace)  # type: ignore[arg-type]


def test_betas_without_parentheses_says_how_to_write_it() -> None:
    def upload() -> None: ...

    class Uploader: ...

    for func, name in ((upload, "upload"), (Uploader, "Uploader"), (print, "print")):
        with pytest.raises(InvalidBetaError, match=r'write @betas\("name-of-the-beta"\)') as info:
            betas(func)  # type: ignore[arg-type]
        assert repr(func) in str(info.value)
        assert f"{name}, write @betas" in str(info.value)  # named by its qualified name


# Nothing of the caller's stack is kept: a `_Frame` holds no Python frame, so whatever
# outlives a scope and holds its frame (a context, a task, a rules cache) keeps no
# caller's locals alive once the `with` has left.


class _Payload:
    """A caller's local: a request body, a dataframe..."""


def _kept_past_the_scope(keep: Callable[[], object]) -> tuple[object, Callable[[], object]]:
    """Call `keep` inside a scope entered two frames below a caller holding a payload."""

    def outer() -> tuple[object, Callable[[], object]]:
        import weakref

        payload = _Payload()
        return inner(), weakref.ref(payload)

    def inner() -> object:
        with betas("kept-2025-01-01"), betas("inner-2025-01-01"):
            return keep()

    return outer()


def test_a_copied_context_keeps_nothing_of_the_stack_that_entered_the_scope() -> None:
    kept, payload = _kept_past_the_scope(contextvars.copy_context)
    gc.collect()
    assert payload() is None
    assert isinstance(kept, contextvars.Context)
    assert kept.run(current_betas) == ("kept-2025-01-01", "inner-2025-01-01")  # the names stay


def test_a_rules_cache_keeps_nothing_of_the_stack_that_entered_the_scope() -> None:
    rules = Rules(betas=["inner-2025-01-01", "fixed-2025-01-01"])  # merged with the scope's: cached
    kept, payload = _kept_past_the_scope(lambda: rules.value())
    gc.collect()
    assert payload() is None
    assert kept == "inner-2025-01-01,fixed-2025-01-01,kept-2025-01-01"


async def test_a_long_lived_task_keeps_nothing_of_the_stack_that_entered_the_scope() -> None:
    release = asyncio.Event()

    async def long_lived() -> tuple[str, ...]:
        await release.wait()
        return current_betas()

    task, payload = _kept_past_the_scope(lambda: asyncio.get_running_loop().create_task(long_lived()))
    gc.collect()
    assert payload() is None
    release.set()
    assert await task == ("kept-2025-01-01", "inner-2025-01-01")  # type: ignore[misc]


def test_a_scope_object_keeps_no_frame_once_every_entry_is_left() -> None:
    scope = betas("kept-2025-01-01")

    def outer() -> Callable[[], object]:
        import weakref

        payload = _Payload()
        with scope, scope:
            pass
        return weakref.ref(payload)

    payload = outer()
    gc.collect()
    assert payload() is None
    assert not scope._open


def test_a_generator_closed_elsewhere_leaves_no_frame_in_the_context_that_entered() -> None:
    def gen() -> Generator[None, None, None]:
        payload = _Payload()  # noqa: F841 - the local that must not outlive the generator
        with betas("gen-2025-01-01"):
            yield

    import weakref

    entered = contextvars.copy_context()
    generator = gen()
    entered.run(next, generator)  # the scope is now active in `entered` for good
    frame_ref = weakref.ref(generator)
    contextvars.copy_context().run(generator.close)
    del generator
    gc.collect()
    assert frame_ref() is None  # the generator (and its frame, and its locals) are gone
    assert entered.run(current_betas) == ("gen-2025-01-01",)  # contextvars' rule for generators


def test_an_entry_whose_record_an_interrupt_cut_off_is_still_left() -> None:
    # An interrupt between an entry's two writes (the context variable, then the scope's
    # record of the Python frame) leaves an entry that no frame has on record: the exit
    # that closes it still takes its names away.
    scope = betas("cut-2025-01-01")
    with contextlib.ExitStack() as stack:
        stack.enter_context(scope)
        scope._open.clear()  # the state such an interrupt leaves
        assert current_betas() == ("cut-2025-01-01",)
    assert current_betas() == ()
    assert not scope._open
