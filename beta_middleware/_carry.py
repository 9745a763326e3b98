"""`carry(fn)`, and `install(threads=True)`: the betas of a scope, taken into other threads.

What travels is the active names, as data (a tuple of str): never the scope object that
was active, so nothing of the caller's stack is kept, and a carried callable pickles
whenever its function does - to a process pool, `multiprocessing`, joblib, Dask or Ray
(see `_processes` for process pools under `install(processes=True)`). Each run of a job
sets the running thread's betas aside, runs the function inside `betas(*names,
replace=True)` (no scope at all for no names), and gives the thread back exactly what it
had, whatever the function left entered. Names that came in a pickle are checked again
where the job runs, as `betas()` checks them.

Only the beta scopes travel, not the whole `contextvars` context: a worker thread keeps
its own context variables (other libraries' state).
"""

from __future__ import annotations

import functools
import sys
import weakref

from ._scope import _ROOT, BetaScope, _current, betas, current_betas

# `typing` is not imported at run time: a worker process that only runs carried jobs
# imports this module, and its start-up is measured (benchmarks/pools.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Context
    from types import ModuleType
    from typing import Any, TypeVar

    from ._install import Installation

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["carry", "patch"]


class _Job:
    """`fn`, run with `names` active - and only them - on each call.

    Its scope, `betas(names, replace=True)`, is made on the first call, where the job
    runs: names that came in a pickle are checked there.
    """

    __slots__ = ("_fn", "_names", "_scope")

    def __init__(self, fn: Callable[..., Any], names: tuple[str, ...]) -> None:
        self._fn = fn
        self._names = names
        self._scope: BetaScope | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # The function and the names, nothing else: pickle raises its own error, naming
        # `fn`, when `fn` cannot be pickled.
        return (type(self), (self._fn, self._names))

    def _checked(self) -> BetaScope | None:
        scope = self._scope
        if scope is None and self._names:
            # Names that came as data: checked here, as betas() checks them - an invalid
            # one raises InvalidBetaError, a likely typo warns (once per process).
            scope = self._scope = betas(self._names, replace=True)
        return scope

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        scope = self._checked()
        token = _current.set(_ROOT)  # the thread's own betas are not the job's
        try:
            if scope is None:
                return self._fn(*args, **kwargs)
            with scope:
                return self._fn(*args, **kwargs)
        finally:
            _current.reset(token)  # the thread as it was, whatever `fn` left entered


class Carried(_Job):
    """What `carry(fn)` returns: `fn` with the betas active at the `carry` call.

    It looks like `fn` (its name, docstring, `__wrapped__`) and pickles as `fn` and the names.
    """

    def __init__(self, fn: Callable[..., Any], names: tuple[str, ...]) -> None:
        super().__init__(fn, names)
        # Not `fn.__dict__` (what `functools.wraps` also copies): a class given as `fn`
        # would lend this object its methods, `__reduce__` among them.
        functools.update_wrapper(self, fn, updated=())

    def __repr__(self) -> str:
        return f"carry({self._fn!r}) with betas {self._names!r}"


class _CarriedAsync(Carried):
    """`carry(fn)` of an `async def` function: the names are active while it is awaited."""

    def __init__(self, fn: Callable[..., Any], names: tuple[str, ...]) -> None:
        super().__init__(fn, names)
        if sys.version_info >= (3, 12):  # pragma: no branch - coverage runs on the newest Python
            import inspect

            inspect.markcoroutinefunction(self)  # inspect.iscoroutinefunction(carried) is True

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        scope = self._checked()
        token = _current.set(_ROOT)
        try:
            if scope is None:
                return await self._fn(*args, **kwargs)
            with scope:
                return await self._fn(*args, **kwargs)
        finally:
            _current.reset(token)


def carry(fn: F) -> F:
    """Return a callable that runs `fn` with the betas active now (when `carry` is called).

    For handing work to another thread or process: `executor.submit(carry(job))`,
    `threading.Thread(target=carry(job))`, `process_pool.submit(carry(job))`. Each call
    runs `fn` with exactly those betas - none if none were active - and leaves the
    calling thread's betas as they were. Unlike one `contextvars.copy_context()`, the
    result may be called any number of times, from any thread, at the same time. For an
    `async def` function the betas are active while the coroutine is awaited.

    The names are kept as data: the result holds nothing of the caller's stack, and it
    pickles whenever `fn` does (pickle's own error, naming `fn`, when it does not). Where
    a pickled one is called, the names are checked again as `betas()` checks them.
    """
    if not callable(fn):
        raise TypeError(f"carry() takes a callable, not {fn!r}")
    import inspect  # here: a worker process that only runs carried jobs never imports it

    kind = _CarriedAsync if inspect.iscoroutinefunction(fn) else Carried
    return kind(fn, current_betas())  # type: ignore[return-value]  # it calls as `fn` does


def patch(installation: Installation, module: ModuleType) -> None:
    """Patch `threading` or `concurrent.futures.thread` for `installation`."""
    if module.__name__ == "threading":
        _patch_threading(installation, module)
    else:
        _patch_executor(installation, module)


# threads=True, before Python 3.14: the betas where a Thread was created, for those created
# inside a scope; held weakly, nothing stored on the thread.
_threads: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _thread_context(inherit: bool) -> Context | None:
    """The `context=` a thread created here gets under threads=True, from Python 3.14 on.

    From 3.14 a thread runs in `Thread(context=...)`; given none it runs in an empty one,
    or, where `sys.flags.thread_inherit_context` is set (the default of free-threaded
    builds), in a copy of the context of the code that *starts* it. The betas must be
    those of where it was created: so a copy of the creator's context when threads
    inherit one (its other variables come from the creator, not the starter), else an
    empty context holding only the creator's betas - or None, Python's own empty
    context, when none are active.
    """
    import contextvars

    if inherit:
        return contextvars.copy_context()
    frame = _current.get()
    if frame is _ROOT:
        return None
    context = contextvars.Context()
    context.run(_current.set, frame)
    return context


def _patch_threading(installation: Installation, threading: ModuleType) -> None:
    thread = threading.Thread
    init = thread.__init__

    # No Python 3.14 can be installed here: tests/test_threads.py tests _thread_context itself.
    if sys.version_info >= (3, 14):  # pragma: no cover - Python 3.14 and later

        @functools.wraps(init)
        def init_314(self: Any, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("context") is None:  # `context` is keyword-only
                kwargs["context"] = _thread_context(bool(sys.flags.thread_inherit_context))
            init(self, *args, **kwargs)

        installation.patch(thread, "__init__", init_314)
        return

    bootstrap = thread._bootstrap_inner

    @functools.wraps(init)
    def init_(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # The betas where it is created, never where it is started: created outside any
        # scope, it starts with none, as a plain thread does.
        names = current_betas()
        if names:
            _threads[self] = names

    # The one place that runs in the new thread before `run()`, whatever a subclass
    # overrides: private, pinned by a test.
    @functools.wraps(bootstrap)
    def _bootstrap_inner(self: Any) -> None:  # pragma: no cover - runs before coverage traces the thread
        names = _threads.pop(self, None)
        if names is None:
            bootstrap(self)
            return
        with betas(names, replace=True):  # in the thread's own context, which ends with the thread
            bootstrap(self)

    installation.patch(thread, "__init__", init_)
    installation.patch(thread, "_bootstrap_inner", _bootstrap_inner)


def _patch_executor(installation: Installation, module: ModuleType) -> None:
    executor = module.ThreadPoolExecutor
    submit = executor.submit

    @functools.wraps(submit)
    def submit_(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        job = _Job(fn, current_betas())  # every job: one without betas runs with none
        # A worker thread is started inside the first submissions, from this context: it
        # must start with no betas of its own (so its initializer sees none too).
        token = _current.set(_ROOT)
        try:
            return submit(self, job, *args, **kwargs)
        finally:
            _current.reset(token)

    # `map`, `loop.run_in_executor` and `asyncio.to_thread` submit through `submit`
    installation.patch(executor, "submit", submit_)
