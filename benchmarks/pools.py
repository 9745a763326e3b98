"""Process pools under `install(processes=True)`: a pool's start-up, in whole processes.

`python -m benchmarks.pools [--rounds N]`. Each program builds a pool of two worker
processes under one start method, runs four jobs inside a scope and shuts the pool down;
it times that (the pool: its workers' start, the jobs, their end) and the measuring side
times the whole program. "plain" has no installation; "installed" calls
`install(processes=True)` first, so that each job goes as the function and the names and
is run by the package in the worker. Two jobs: `os.getpid`, for which a plain worker
imports nothing more - the installed one imports the package and checks the names - and
`beta_middleware.current_betas`, whose worker imports the package either way, as one
whose job sends requests through an installed stack does (what is left is the wrapping).
The programs alternate within a round (each goes first in half of the rounds); the
figures are medians of the per-round gaps. The budget: the pool within 10 ms.
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
import multiprocessing, os, sys, time
import beta_middleware
{kind}
job = {job}
if __name__ == "__main__":
    if sys.argv[2] == "installed":
        beta_middleware.install(processes=True)
    start = time.perf_counter()
    with make(multiprocessing.get_context(sys.argv[1])) as pool:
        with beta_middleware.betas("files-api-2025-04-14"):
            run(pool, job)
    print(time.perf_counter() - start)
"""


def _seconds(program: str, method: str, variant: str) -> tuple[float, float]:
    """(the pool's seconds, the whole program's)."""
    start = perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", program, method, variant], check=True, capture_output=True, text=True
    )
    return float(done.stdout), perf_counter() - start


def measure(
    rounds: int, methods: Sequence[str] = METHODS, jobs: Sequence[str] = JOBS
) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """(pool kind, start method, job) -> ms: the plain pool, the pool's gap, the program's gap (medians)."""
    figures = {}
    for kind, code in KINDS.items():
        for job in jobs:
            program = PROGRAM.format(kind=code, job=job)
            for method in methods:
                _seconds(program, method, "installed")  # warm the file cache and the bytecode
                plain, pool_gaps, program_gaps = [], [], []
                for turn in range(rounds):
                    order = ("plain", "installed") if turn % 2 == 0 else ("installed", "plain")
                    took = {variant: _seconds(program, method, variant) for variant in order}
                    plain.append(took["plain"][0])
                    pool_gaps.append(took["installed"][0] - took["plain"][0])
                    program_gaps.append(took["installed"][1] - took["plain"][1])
                figures[kind, method, job] = (
                    statistics.median(plain) * 1000,
                    statistics.median(pool_gaps) * 1000,
                    statistics.median(program_gaps) * 1000,
                )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Print each figure; exit 1 when a gap is over the budget."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pools", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="programs of each variant (default 21)")
    args = parser.parse_args(argv)
    status = 0
    print(f"{'pool':<20} {'start':<10} {'job':<29} {'plain pool':>10} {'gap':>7} {'program gap':>11}")
    for (kind, method, job), (plain, gap, whole) in measure(args.rounds).items():
        holds = gap <= SLACK_MS
        status |= not holds
        verdict = "ok" if holds else "OVER"
        print(f"{kind:<20} {method:<10} {job:<29} {plain:7.1f} ms {gap:+7.1f} {whole:+8.1f} ms  {verdict}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
