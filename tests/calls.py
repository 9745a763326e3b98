"""Counting the calls a request makes, for the hot-path tests (work, not time)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any


def count_calls(send: Callable[[], object]) -> tuple[int, int]:
    """(Python calls, C calls) made by `send()`, after one send to warm every cache.

    The collector is off meanwhile: a collection would run the callbacks of whatever
    else the tests left to collect (weak references' among them) inside the count.
    """
    send()
    gc.collect()
    counts = [0, 0]

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            counts[0] += 1
        elif event == "c_call":
            counts[1] += 1

    collecting = gc.isenabled()
    gc.disable()
    sys.setprofile(profile)
    try:
        send()
    finally:
        sys.setprofile(None)
        if collecting:
            gc.enable()
    return counts[0], counts[1]
