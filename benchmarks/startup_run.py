"""Start-up under `python -m beta_middleware run`: a Python process with the hook vs a plain one.

Whole processes, as an operator sees them: `python -c pass` started with the start-up hook
on `PYTHONPATH` (and settings in the environment) and without it, alternating, the gap
taken within each round; the figure is the median of those gaps. The budget: within
10 ms. A second, informative pair imports httpx, where the hook loads the package and
calls `install()`.
"""

from __future__ import annotations

import contextlib
import os
import py_compile
import statistics
import subprocess
import sys
from time import perf_counter

from beta_middleware._install import startup as _run

__all__ = ["GAP", "STARTUP_SLACK_MS", "measure"]

STARTUP_SLACK_MS = 10.0
GAP = "python -c pass: gap, ms"
"""The figure the budget holds against `STARTUP_SLACK_MS`."""
PROGRAMS = {"python -c pass": "pass", "python -c 'import httpx'": "import httpx"}


def _environ(hooked: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("BETA_MIDDLEWARE_")}
    if hooked:
        env["PYTHONPATH"] = _run.BOOTSTRAP
        env[_run.BETAS] = "context-1m-2025-08-07"
    return env


def _seconds(code: str, env: dict[str, str]) -> float:
    start = perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return perf_counter() - start


def measure(rounds: int) -> dict[str, float]:
    """Milliseconds per program: plain, under run, and the median per-round gap."""
    # the hook's bytecode, as an installed wheel has it (pip compiles on install), whatever
    # PYTHONDONTWRITEBYTECODE says; a read-only install has it already
    with contextlib.suppress(OSError, py_compile.PyCompileError):
        py_compile.compile(os.path.join(_run.BOOTSTRAP, "sitecustomize.py"), doraise=True)
    envs = {hooked: _environ(hooked) for hooked in (False, True)}
    figures: dict[str, float] = {}
    for label, code in PROGRAMS.items():
        times: dict[bool, list[float]] = {False: [], True: []}
        gaps = []
        _seconds(code, envs[True])  # warm the file cache and the bytecode of both
        for turn in range(rounds):
            order = (False, True) if turn % 2 == 0 else (True, False)  # each goes first in half
            took = {hooked: _seconds(code, envs[hooked]) for hooked in order}
            for hooked, seconds in took.items():
                times[hooked].append(seconds)
            gaps.append(took[True] - took[False])
        figures[f"{label}: plain, ms"] = statistics.median(times[False]) * 1000
        figures[f"{label}: under run, ms"] = statistics.median(times[True]) * 1000
        figures[f"{label}: gap, ms"] = statistics.median(gaps) * 1000
    return figures


if __name__ == "__main__":  # pragma: no cover
    for what, value in measure(int(sys.argv[1]) if sys.argv[1:] else 40).items():
        print(f"{what:45} {value:8.2f}")
