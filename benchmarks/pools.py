"""Process pools under `install(processes=True)`: a program's pool start-up, as whole processes.

`python -m benchmarks.pools [--rounds N]`. Each program imports the package, builds a
pool of two workers under one start method and runs four jobs inside a scope; "plain"
does it without an installation, "installed" calls `install(processes=True)` first, so
that each job goes as the function and the names and is run by the package in the
worker. Two jobs: `os.getpid`, for which a plain worker imports nothing more - the
installed worker imports the package and checks the names, the whole cost - and
`beta_middleware.current_betas`, whose worker imports the package either way, as one
whose job sends requests through an installed stack does (what is left is the cost of
the job's wrapping). Programs alternate within a round (each goes first in half of them);
the figure is the median of the per-round gaps. The budget: within 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Sequence
from time import perf_counter

__all__ = ["JOBS", "KINDS", "METHODS", "SLACK_MS", "main", "measure"]

SLACK_MS = 10.0
METHODS = ("fork", "spawn", "forkserver")
KINDS = {
    "ProcessPoolExecutor": "from concurrent.futures import ProcessPoolExecutor as Pool\n"
    "def run(pool, job): [f.result(60) for f in [pool.submit(job) for _ in range(4)]]\n"
    "make = lambda context: Pool(2, mp_context=context)\n",
    "multiprocessing.Pool": "def run(pool, job): pool.starmap(job, [()] * 4)\n"
    "make = lambda context: context.Pool(2)\n",
}
JOBS = ("os.getpid", "beta_middleware.current_betas")
PROGRAM = """
import multiprocessing, os, sys
import beta_middleware
{kind}
job = {job}
if __name__ == "__main__":
    if sys.argv[2] == "installed":
        beta_middleware.install(processes=True)
    with make(multiprocessing.get_context(sys.argv[1])) as pool:
        with beta_middleware.betas("files-api-2025-04-14"):
            run(pool, job)
"""


def _seconds(program: str, method: str, variant: str) -> float:
    start = perf_counter()
    subprocess.run([sys.executable, "-c", program, method, variant], check=True)
    return perf_counter() - start


def measure(
    rounds: int, methods: Sequence[str] = METHODS, jobs: Sequence[str] = JOBS
) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(pool kind, start method, job) -> (median ms of the plain program, median per-round gap in ms)."""
    figures = {}
    for kind, code in KINDS.items():
        for job in jobs:
            program = PROGRAM.format(kind=code, job=job)
            for method in methods:
                _seconds(program, method, "installed")  # warm the file cache and the bytecode
                plain, gaps = [], []
                for turn in range(rounds):
                    order = ("plain", "installed") if turn % 2 == 0 else ("installed", "plain")
                    took = {variant: _seconds(program, method, variant) for variant in order}
                    plain.append(took["plain"])
                    gaps.append(took["installed"] - took["plain"])
                figures[kind, method, job] = (statistics.median(plain) * 1000, statistics.median(gaps) * 1000)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Print each figure; exit 1 when a gap is over the budget."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pools", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="programs of each variant (default 21)")
    args = parser.parse_args(argv)
    status = 0
    for (kind, method, job), (plain, gap) in measure(args.rounds).items():
        holds = gap <= SLACK_MS
        status |= not holds
        verdict = "ok" if holds else "OVER"
        print(f"{kind:<20} {method:<10} {job:<29} plain {plain:6.1f} ms  installed {gap:+6.1f} ms  {verdict}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
