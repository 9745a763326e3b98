"""Jobs for other processes: importable by a worker with nothing but the standard library and the package.

A spawned or forkserver worker imports this module to run a job given by reference, so it
imports nothing else at module level (no pytest, no HTTP stack): workers start fast.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import beta_middleware
from beta_middleware import betas, current_betas

HEADER = "anthropic-beta"


def seen(*args: object) -> tuple[str, ...]:
    """The betas a job sees (whatever it is given)."""
    return current_betas()


async def seen_later(*args: object) -> tuple[str, ...]:
    """The betas an `async def` job sees after it has awaited."""
    import asyncio

    await asyncio.sleep(0)
    return current_betas()


def tagged(tag: object, *rest: object) -> tuple[object, tuple[str, ...]]:
    """`tag` with the betas this job sees: which submission a result answers."""
    return tag, current_betas()


def pid_and_betas(*args: object) -> tuple[int, tuple[str, ...]]:
    """The worker's process id and the betas the job sees."""
    return os.getpid(), current_betas()


def leave_open(name: str) -> tuple[str, ...]:
    """A job that enters a scope and never leaves it: the worker's next job must not see it."""
    betas(name).__enter__()
    return current_betas()


def warned(job: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Call `job` (a carried callable, unpickled here) and return what it returned and warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = job()
    return result, [f"{w.category.__name__}: {w.message}" for w in caught]


def call(job: Callable[..., Any], *args: object) -> Any:
    """Call `job` with `args`: a task for engines that run functions only (Ray's `remote`)."""
    return job(*args)


def send(url: str, *rest: object) -> str | None:
    """Send one GET through an installed httpx client; the anthropic-beta value the server saw."""
    import httpx

    # once per worker (the same settings give the same installation; a forked worker has it)
    beta_middleware.install(hosts=["127.0.0.1"], processes=True)
    with httpx.Client() as client:
        value: str | None = client.get(url, timeout=10).json()[HEADER]
    return value
