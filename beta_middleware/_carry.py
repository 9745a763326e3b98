"""`carry(fn)`, and `install(threads=True)`: the betas of a scope, taken into other threads.

Only the beta scopes travel, not the whole `contextvars` context: a worker thread keeps
its own context variables (other libraries' state), and after the job its betas are
what they were before it.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._scope import _ROOT, _current, _Frame, _joined

if TYPE_CHECKING:
    from ._install import Installation

__all__ = ["carry", "patch"]

F = TypeVar("F", bound=Callable[..., Any])


def _run_in(frame: _Frame, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    current, joined = _current.set(frame), _joined.set(frame.joined)
    try:
        return fn(*args, **kwargs)
    finally:
        _joined.reset(joined)
        _current.reset(current)


def _carried(frame: _Frame, fn: F) -> F:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            current, joined = _current.set(frame), _joined.set(frame.joined)
            try:
                return await fn(*args, **kwargs)
            finally:
                _joined.reset(joined)
                _current.reset(current)

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return _run_in(frame, fn, args, kwargs)

    return cast(F, run)


def carry(fn: F) -> F:
    """Return a callable that runs `fn` with the betas active now (when `carry` is called).

    For handing work to another thread: `executor.submit(carry(job))`,
    `threading.Thread(target=carry(job))`. Unlike one `contextvars.copy_context()`, the
    result may be called any number of times, from any thread, at the same time; each
    call leaves the calling thread's betas as they were. For an `async def` function the
    scope covers the awaiting of the coroutine.
    """
    if not callable(fn):
        raise TypeError(f"carry() takes a callable, not {fn!r}")
    return _carried(_current.get(), fn)


# threads=True: a Thread's betas, taken when it is created (or, if none were active
# then, when it is started); held weakly, nothing stored on the thread.
_threads: weakref.WeakKeyDictionary[Any, _Frame] = weakref.WeakKeyDictionary()


def patch(installation: Installation, module: ModuleType) -> None:
    """Patch `threading` or `concurrent.futures.thread` for `installation`."""
    if module.__name__ == "threading":
        _patch_threading(installation, module)
    else:
        _patch_executor(installation, module)


def _patch_threading(installation: Installation, threading: ModuleType) -> None:
    thread = threading.Thread
    init, start, bootstrap = thread.__init__, thread.start, thread._bootstrap_inner

    @functools.wraps(init)
    def init_(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        frame = _current.get()
        if frame is not _ROOT:
            _threads[self] = frame

    @functools.wraps(start)
    def start_(self: Any) -> None:
        if self not in _threads:
            frame = _current.get()
            if frame is not _ROOT:
                _threads[self] = frame
        start(self)

    # The one place that runs in the new thread before `run()`, whatever a subclass
    # overrides: private, pinned by a test.
    @functools.wraps(bootstrap)
    def _bootstrap_inner(self: Any) -> None:
        frame = _threads.pop(self, None)
        if frame is not None:
            _current.set(frame)  # the thread's own context: it ends with the thread
            _joined.set(frame.joined)
        bootstrap(self)

    installation.patch(thread, "__init__", init_)
    installation.patch(thread, "start", start_)
    installation.patch(thread, "_bootstrap_inner", _bootstrap_inner)


def _patch_executor(installation: Installation, module: ModuleType) -> None:
    executor = module.ThreadPoolExecutor
    submit = executor.submit

    @functools.wraps(submit)
    def submit_(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        frame = _current.get()
        if frame is not _ROOT:
            fn = functools.partial(_run_in, frame, fn, args, kwargs)
            args, kwargs = (), {}
        return submit(self, fn, *args, **kwargs)

    # `map` and `loop.run_in_executor` submit through `submit`
    installation.patch(executor, "submit", submit_)
