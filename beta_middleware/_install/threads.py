"""`install(threads=True)`: a thread runs with the betas of where it was created.

`threading.Thread` and `ThreadPoolExecutor.submit` are patched: a pool's job runs with
the betas of its submission, sent as a `Job` of `beta_middleware._core.carry`, as
`carry(fn)` sends it, and a pool's workers start with none of their own.
"""

from __future__ import annotations

import functools
import sys
import weakref

from .._core.carry import Job
from .._core.scope import ROOT, betas, current, current_betas

# `typing` is not imported at run time: `install(threads=True)` may run at start-up, where
# the import that patches `threading` would pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Context
    from types import ModuleType
    from typing import Any

    from .installation import Installation

__all__ = ["patch"]


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
    frame = current.get()
    if frame is ROOT:
        return None
    context = contextvars.Context()
    context.run(current.set, frame)
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
        job = Job(fn, current_betas())  # every job: one without betas runs with none
        # A worker thread is started inside the first submissions, from this context: it
        # must start with no betas of its own (so its initializer sees none too).
        token = current.set(ROOT)
        try:
            return submit(self, job, *args, **kwargs)
        finally:
            current.reset(token)

    # `map`, `loop.run_in_executor` and `asyncio.to_thread` submit through `submit`
    installation.patch(executor, "submit", submit_)
