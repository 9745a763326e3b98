"""`install()` and pools of processes: no worker has betas of its own; each job brings its submitter's.

Every installation: a process that `multiprocessing` starts (a `ProcessPoolExecutor`'s or a
`multiprocessing` pool's worker included) begins with no betas, under every start method.
Under `spawn` and `forkserver` nothing of the parent's context reaches it anyway; under
`fork` the child is a copy of the thread that forked it - for a pool, whichever thread
made the submission (or built the pool) that started the worker - and would run every
later job inside that thread's scope. `multiprocessing` runs its after-fork hooks in the
child before the process's target: the hook clears the scope there. `os.fork()` itself is
left as Python makes it (the child goes on inside the `with` block that forked it).

`threads=True` or `processes=True`: a pool starts its own threads (`ProcessPoolExecutor`'s
manager thread, which runs the futures' callbacks; a `multiprocessing` pool's handler
threads, which run `callback=`; a `ThreadPool`'s workers) where it is built or first
given a job. They start with no betas, whatever scope that was in (under `threads=True` a
thread created in a scope would otherwise keep it).

`processes=True`: each job given to `ProcessPoolExecutor.submit`/`map` or to a
`multiprocessing` pool (`apply_async`, `map`, `map_async`, `starmap`, `starmap_async`,
`imap`, `imap_unordered`; `apply` goes through `apply_async`) is sent as a `Job`: the
function and the names active at the submission, as data, run in the worker with exactly
those names (none if none). Under `threads=True` alone, the jobs of a `ThreadPool` - a
pool of threads of this process - are carried so.
"""

from __future__ import annotations

import functools

from .._core.carry import Job
from .._core.known import bundled
from .._core.scope import ROOT, current, current_betas

TYPE_CHECKING = False  # `typing` costs the import that patches a pool module
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    from .installation import Installation

__all__ = ["POOL_METHODS", "patch", "started"]

POOL_METHODS = ("apply_async", "map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered")
"""The `multiprocessing` pool methods a job goes through, each taking the function first."""


def patch(installation: Installation, module: ModuleType) -> None:
    """Patch `multiprocessing.util`, `concurrent.futures.process` or `multiprocessing.pool`."""
    if module.__name__ == "multiprocessing.util":
        # Held weakly by `multiprocessing` (an entry per installation, gone with it); it
        # does nothing once the installation is undone.
        module.register_after_fork(installation, started)
    else:
        if installation.processes:
            # The known names, which a worker reads to check a job's names: loaded here, a
            # worker forked from this process has them (else its first job loads `json`).
            bundled()
        if module.__name__ == "concurrent.futures.process":
            _patch_executor(installation, module.ProcessPoolExecutor)
        else:
            _patch_pool(installation, module)


def started(installation: Installation) -> None:
    """In a process `multiprocessing` has just started: no betas of its own."""
    if installation.active:
        current.set(ROOT)  # the process's main context, which ends with the process


def _outside(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, run with no betas: the threads and processes it starts start with none."""

    @functools.wraps(call)
    def outside(*args: Any, **kwargs: Any) -> Any:
        token = current.set(ROOT)
        try:
            return call(*args, **kwargs)
        finally:
            current.reset(token)

    return outside


def _patch_executor(installation: Installation, executor: type[Any]) -> None:
    submit = _outside(executor.submit)
    carries = installation.processes

    @functools.wraps(executor.submit)
    def submit_(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if carries:
            fn = Job(fn, current_betas())  # every job: one without betas runs with none
        return submit(self, fn, *args, **kwargs)

    installation.patch(executor, "submit", submit_)  # `map` submits through `submit`


def _patch_pool(installation: Installation, module: ModuleType) -> None:
    pool = module.Pool
    installation.patch(pool, "__init__", _outside(pool.__init__))  # it starts its workers and threads
    carried = pool if installation.processes else module.ThreadPool
    for name in POOL_METHODS:
        installation.patch(pool, name, _sending(getattr(pool, name), carried))


def _sending(method: Callable[..., Any], carried: type[Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def sending(self: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, carried):
            func = Job(func, current_betas())
        return method(self, func, *args, **kwargs)

    return sending
