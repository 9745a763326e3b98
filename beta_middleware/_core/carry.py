"""`carry(fn)`: the betas of a scope, taken into other threads and processes.

What travels is the active names, as data (a tuple of str): never the scope object that
was active, so nothing of the caller's stack is kept, and a carried callable pickles
whenever its function does - to a process pool, `multiprocessing`, joblib, Dask or Ray
(`install(threads=True, processes=True)` sends jobs as `Job`s: see
`beta_middleware._install.threads` and `.processes`). Each run of a job
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

from .scope import ROOT, BetaScope, betas, current, current_betas

# `typing` is not imported at run time: a worker process that only runs carried jobs
# imports this module, and its start-up is measured (benchmarks/pools.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Carried", "Job", "carry"]


class Job:
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
        token = current.set(ROOT)  # the thread's own betas are not the job's
        try:
            if scope is None:
                return self._fn(*args, **kwargs)
            with scope:
                return self._fn(*args, **kwargs)
        finally:
            current.reset(token)  # the thread as it was, whatever `fn` left entered


class Carried(Job):
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
        token = current.set(ROOT)
        try:
            if scope is None:
                return await self._fn(*args, **kwargs)
            with scope:
                return await self._fn(*args, **kwargs)
        finally:
            current.reset(token)


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
