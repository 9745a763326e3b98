"""Time the package's overhead, for people: `python -m benchmarks [--quick]`.

The budget of record is counted in instructions (`python -m benchmarks --instructions`,
`benchmarks.instructions`): a count does not move with the machine's load. This timing
benchmark says what the overhead is in seconds, with its noise.

Each figure is the median, over rounds, of a ratio taken within one round, the variants
alternating (in each of their orders in turn): on a shared, noisy machine only ratios
between neighbouring measurements mean something. The rounds of each cell are spread
over several fresh processes, run one after another, and pooled: each process's memory
layout biases its figures. Each median is shown with its noise: the half-width of an
approximate 95% interval (from the rounds' interquartile range). The default run took
7 minutes on two cores shared with other work (it is meant to stay under 15).

The checks (exit status 1 only when a figure is over its limit by more than its noise;
a cell within its noise of the limit is reported, not failed):
- per request, each integration's ratio to its bare stack is within +0.02 of the
  hand-written injector's ratio in every scenario, and within +0.01 of bare (1.00)
  when nothing is active;
- per-request cost does not grow with nesting depth (30 nested scopes vs the same
  names in one scope) nor with concurrent tasks (10,000 vs 1, each with its own scope);
- 1,000,000 scope enter/exit cycles leave no memory behind;
- start-up and first-use cost, as whole processes (see `benchmarks.startup`; only
  that part: `--startup`);
- a Python process started under `python -m beta_middleware run` starts within 10 ms of a
  plain one (whole processes: `benchmarks.startup_run`).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from time import perf_counter, thread_time
from typing import Literal

from beta_middleware import betas
from beta_middleware._core.header import Rules

from . import startup, startup_run
from .stacks import (
    INSTALLED,
    OUTSIDE,
    PASS_THROUGH,
    SCENARIOS,
    STACKS,
    VARIANTS,
    AsyncRunner,
    Runner,
    Scenario,
    Stack,
    Variant,
    running,
)

__all__ = ["Config", "Report", "main", "measure"]

PER_REQUEST_SLACK = 0.02
PASS_THROUGH_SLACK = 0.01
INSTALL_LIMIT_MS = 5.0  # install() in a fresh process
MEMORY_SLACK = 4096  # bytes: a per-cycle leak would show as >= 1 byte x cycles


@dataclass(frozen=True)
class Config:
    """How much to measure. The defaults took 7 minutes on two shared cores (at most 15 is the aim)."""

    rounds: int = 24  # a multiple of the 6 orders of the variants (in each process)
    processes: int = 4
    """Fresh processes, one after another, that the rounds of every cell are spread over
    and pooled from. A process's memory layout biases what it measures: the same cell in
    six processes read gaps from +0.008 to +0.017, where repeated builds of it in one
    process agreed within 0.002."""
    pass_through_factor: int = 1
    """Pass-through cells take this many times `rounds`. Their limit (+0.01 of bare) has
    half the slack of the gap's (+0.02), and a median's noise falls as 1/sqrt(rounds):
    four times the rounds give the same confidence for half the slack (now that the
    instruction count is the budget of record, the default takes the same rounds)."""
    requests: int = 150
    chunk: int = 10
    scope_rounds: int = 15
    scope_cycles: int = 20_000
    memory_cycles: int = 1_000_000
    tasks: int = 10_000
    task_requests: int = 3
    task_rounds: int = 6
    """Rounds of the concurrency measure, even so that bare and package each go first in
    half of them. One round's figures vary by about ±0.02, the size of the limit: the
    median of 3 rounds could land either side of it."""
    solo_requests: int = 2_000
    install_runs: int = 9
    """Fresh processes timing `install()`; the median counts."""
    startup_rounds: int = 30
    """Rounds of whole processes, plain and under `run`, alternating."""

    def rounds_for(self, scenario: Scenario) -> int:
        """The rounds a cell of `scenario` takes."""
        return self.rounds * (self.pass_through_factor if scenario.name == PASS_THROUGH else 1)

    def shares(self) -> list[tuple[int, int]]:
        """(first round, rounds) of each process the rounds are spread over.

        `processes` of them, fewer where a process would have too few rounds to take
        every order of the variants.
        """
        count = max(1, min(self.processes, self.rounds // len(ORDERS)))
        bounds = [self.rounds * i // count for i in range(count + 1)]
        return [(start, end - start) for start, end in itertools.pairwise(bounds)]


QUICK = Config(
    rounds=2,
    processes=1,
    pass_through_factor=1,
    requests=4,
    chunk=2,
    scope_rounds=2,
    scope_cycles=50,
    memory_cycles=1_000,
    tasks=20,
    task_requests=2,
    task_rounds=1,
    solo_requests=5,
    install_runs=1,
    startup_rounds=2,
)
"""A tiny configuration: every code path, no meaningful figure (used by the tests)."""


@dataclass(frozen=True)
class Cell:
    """One stack in one scenario: median ratios to the bare stack, and the median gap."""

    stack: str
    scenario: str
    package: float
    hand: float
    gap: float
    """How much more the package costs than the hand-written injector, in units of bare:
    the median over rounds of each round's package / bare - hand-written / bare, each
    taken where both variants ran side by side. It need not equal the difference of
    the two medians."""
    chained: bool = False
    """The stack's `Stack.chained`: its pass-through is held against the hand-written one."""
    package_noise: float = 0.0
    """The noise of `package`: see `noise`."""
    gap_noise: float = 0.0
    """The noise of `gap`."""

    @property
    def idle(self) -> float:
        """What the package's pass-through ratio is held against.

        Bare (1.0); for a chained stack the hand-written injector's pass-through ratio
        (a middleware that only forwards).
        """
        return self.hand if self.chained else 1.0


@dataclass
class Report:
    """Everything one run measured, and the budget checks over it."""

    cells: list[Cell] = field(default_factory=list)
    scope: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    concurrency: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Stack name -> (package/bare with 1 task, package/bare with many tasks)."""
    outside: dict[str, float] = field(default_factory=dict)
    """Installed stack name -> installed / uninstalled for a request outside the hosts."""
    outside_noise: dict[str, float] = field(default_factory=dict)
    """The noise of each `outside` figure (see `noise`)."""
    install_ms: float | None = None
    """`install()` in a fresh process, milliseconds of CPU time (median)."""
    skipped: list[str] = field(default_factory=list)
    startup: dict[str, float] = field(default_factory=dict)
    """`benchmarks.startup_run`'s figures, in milliseconds."""

    def checks(self) -> list[tuple[str, bool, str]]:
        """The budget: (what, holds, figures) per check."""
        out: list[tuple[str, bool, str]] = []
        for cell in self.cells:
            # A figure over its limit by less than its noise is reported, not failed.
            if cell.scenario == PASS_THROUGH:
                limit = cell.idle + PASS_THROUGH_SLACK
                out.append(
                    (
                        f"{cell.stack}, {cell.scenario}: package <= "
                        f"{'hand' if cell.chained else '1'} + {PASS_THROUGH_SLACK}",
                        cell.package - cell.package_noise <= limit,
                        f"{cell.package:.3f} ± {cell.package_noise:.3f}"
                        + (" (within its noise)" if cell.package > limit else ""),
                    )
                )
            out.append(
                (
                    f"{cell.stack}, {cell.scenario}: package <= hand + {PER_REQUEST_SLACK}",
                    cell.gap - cell.gap_noise <= PER_REQUEST_SLACK,
                    f"gap {cell.gap:+.3f} ± {cell.gap_noise:.3f}"
                    + (" (within its noise)" if cell.gap > PER_REQUEST_SLACK else ""),
                )
            )
        by_key = {(c.stack, c.scenario): c for c in self.cells}
        for stack in dict.fromkeys(c.stack for c in self.cells):
            flat, deep = by_key.get((stack, "32 in 1 scope")), by_key.get((stack, "32 in 30 scopes"))
            if flat and deep:
                out.append(
                    (
                        f"{stack}: 30 nested scopes <= 1 scope + {PER_REQUEST_SLACK}",
                        deep.package - flat.package <= PER_REQUEST_SLACK,
                        f"{deep.package:.3f} vs {flat.package:.3f}",
                    )
                )
        for stack, (solo, many) in self.concurrency.items():
            out.append(
                (
                    f"{stack}: many tasks <= 1 task + {PER_REQUEST_SLACK}",
                    many - solo <= PER_REQUEST_SLACK,
                    f"{many:.3f} vs {solo:.3f}",
                )
            )
        for stack, ratio in self.outside.items():
            spread = self.outside_noise.get(stack, 0.0)
            out.append(
                (
                    f"{stack}, {OUTSIDE.name}: installed <= uninstalled + {PASS_THROUGH_SLACK}",
                    ratio - spread <= 1 + PASS_THROUGH_SLACK,
                    f"{ratio:.3f} ± {spread:.3f}"
                    + (" (within its noise)" if ratio > 1 + PASS_THROUGH_SLACK else ""),
                )
            )
        if self.install_ms is not None:
            out.append(
                (
                    f"install() in a fresh process < {INSTALL_LIMIT_MS:g} ms",
                    self.install_ms < INSTALL_LIMIT_MS,
                    f"{self.install_ms:.2f} ms",
                )
            )
        if self.memory:
            growth = self.memory["growth_bytes"]
            out.append(
                (
                    f"memory after scope cycles grows < {MEMORY_SLACK} B",
                    growth < MEMORY_SLACK,
                    f"{growth:+.0f} B",
                )
            )
        if self.startup:
            gap = self.startup[startup_run.GAP]
            out.append(
                (
                    f"under run, a process starts within {startup_run.STARTUP_SLACK_MS:.0f} ms of plain",
                    gap <= startup_run.STARTUP_SLACK_MS,
                    f"{gap:+.1f} ms",
                )
            )
        return out

    def holds(self) -> bool:
        """Whether every budget check holds."""
        return all(ok for _, ok, _ in self.checks())

    def worst_gap(self) -> Cell | None:
        """The cell where the package is furthest behind the hand-written injector."""
        return max(self.cells, key=lambda c: c.gap, default=None)

    def table(self) -> str:
        """The per-request table, as Markdown."""
        lines = [
            "| stack | scenario | package / bare | hand-written / bare | gap (median per round) |",
            "|---|---|---:|---:|---:|",
        ]
        for c in self.cells:
            lines.append(
                f"| {c.stack} | {c.scenario} | {c.package:.3f} ± {c.package_noise:.3f} | {c.hand:.3f} "
                f"| {c.gap:+.3f} ± {c.gap_noise:.3f} |"
            )
        return "\n".join(lines)


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """No collector pauses inside a timed stretch; collect before it instead."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


ORDERS: tuple[tuple[Variant, ...], ...] = tuple(itertools.permutations(VARIANTS))
"""The orders the variants take turns in, one per round in turn. Every order, not just
the rotations of one: a rotation keeps who runs right after whom (the package always
after bare), and a variant's place in that succession alone moved its ratio by up to
0.015 when two identical injectors were measured against each other."""


def measure_cell(stack: Stack, scenario: Scenario, config: Config) -> Cell:
    """Median ratios of `package` and `hand` to `bare` for one stack in one scenario, in this process."""
    package, hand = cell_rounds(stack, scenario, config)
    return pooled_cell(stack, scenario, package, hand)


def noise(values: Sequence[float]) -> float:
    """The half-width of an approximate 95% interval around the median of `values`.

    The median's standard error is about 1.2533 sigma / sqrt(n); sigma is taken from the
    interquartile range (IQR / 1.349), which a round preempted by another process does
    not inflate as it would the standard deviation. Fewer than 4 values: their range.
    """
    if len(values) < 4:
        return max(values) - min(values) if values else 0.0
    quartiles = statistics.quantiles(values, n=4)
    sigma = (quartiles[2] - quartiles[0]) / 1.349
    return 1.96 * 1.2533 * sigma / math.sqrt(len(values))


def pooled_cell(stack: Stack, scenario: Scenario, package: Sequence[float], hand: Sequence[float]) -> Cell:
    """The cell of a stack and scenario from its rounds' ratios (from one process or several)."""
    gaps = [p - h for p, h in zip(package, hand, strict=True)]
    return Cell(
        stack.name,
        scenario.name,
        statistics.median(package),
        statistics.median(hand),
        statistics.median(gaps),
        stack.chained,
        noise(package),
        noise(gaps),
    )


def cell_rounds(
    stack: Stack, scenario: Scenario, config: Config, first: int = 0
) -> tuple[list[float], list[float]]:
    """Each round's package / bare and hand-written / bare for one stack in one scenario.

    `first`: the number of the first round (of `config.rounds`), so that the rounds of
    several processes take the orders of the variants in turn as one process would.
    """
    first *= config.rounds_for(scenario) // config.rounds
    runners = {variant: stack.build(variant, scenario) for variant in VARIANTS}
    try:
        with ExitStack() as scopes:
            scopes.enter_context(running(runners))
            for names in scenario.scopes:
                scopes.enter_context(betas(*names))
            for variant, runner in runners.items():
                runner.run(max(1, config.requests // 3))  # warm-up, and the check below
                want = scenario.expected if variant != "bare" else scenario.own
                if runner.sent != want:
                    raise AssertionError(
                        f"{stack.name} {variant} in {scenario.name!r} sent {runner.sent!r}, expected {want!r}"
                    )
            package: list[float] = []
            hand: list[float] = []
            for i in range(config.rounds_for(scenario)):
                # Variants take turns every `chunk` requests, so a burst of load from
                # elsewhere falls on all of them alike.
                times: dict[Variant, float] = dict.fromkeys(VARIANTS, 0.0)
                order = ORDERS[(first + i) % len(ORDERS)]
                with _quiet_gc():
                    for _ in range(max(1, config.requests // config.chunk)):
                        for variant in order:
                            times[variant] += runners[variant].run(config.chunk)
                package.append(times["package"] / times["bare"])
                hand.append(times["hand"] / times["bare"])
    finally:
        for runner in runners.values():
            runner.close()
    return package, hand


def _time(cycles: int, body: Callable[[], None]) -> float:
    start = thread_time()
    for _ in range(cycles):
        body()
    return thread_time() - start


def measure_scopes(config: Config) -> dict[str, float]:
    """Enter/exit cost of a scope (ns per cycle), alone and under 30 nested scopes.

    Also given as a ratio to the least a context-variable scope can cost: one
    `ContextVar.set` and `reset`.
    """
    var: ContextVar[object] = ContextVar("reference")
    scope = betas("scope-2025-01-01")

    def reference() -> None:
        var.reset(var.set(scope))

    def enter_exit() -> None:
        with scope:
            pass

    out: dict[str, float] = {}
    for label, depth in (("depth 0", 0), ("depth 30", 30)):
        ns: list[float] = []
        ratio: list[float] = []
        with ExitStack() as stack:
            for i in range(depth):
                stack.enter_context(betas(f"outer-{i}-2025-01-01"))
            for i in range(config.scope_rounds):
                with _quiet_gc():
                    order = [enter_exit, reference] if i % 2 == 0 else [reference, enter_exit]
                    timed = {fn: _time(config.scope_cycles, fn) for fn in order}
                ns.append(timed[enter_exit] / config.scope_cycles * 1e9)
                ratio.append(timed[enter_exit] / timed[reference])
        out[f"{label}: ns per enter/exit"] = statistics.median(ns)
        out[f"{label}: ratio to ContextVar set/reset"] = statistics.median(ratio)
    return out


def measure_memory(config: Config) -> dict[str, float]:
    """Traced memory after `memory_cycles` enter/exit cycles, each with a per-request read.

    The cycles run inside an outer scope and go through an integration's `Rules` with
    fixed betas, so the merge cache is exercised too.
    """
    rules = Rules(betas="fixed-2025-01-01")
    scope = betas("cycle-2025-01-01")

    def cycle() -> None:
        with scope:
            rules.header("own-2025-01-01")

    with betas("outer-2025-01-01"):
        _time(1_000, cycle)  # caches and free lists settle first
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            _time(config.memory_cycles, cycle)
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return {"cycles": config.memory_cycles, "growth_bytes": after - before, "peak_bytes": peak - before}


def measure_concurrency(stack: Stack, config: Config) -> tuple[float, float]:
    """Package/bare per-request ratio with 1 task, and with `config.tasks` tasks at once.

    Each task holds its own scope (a distinct name) and makes `config.task_requests`
    requests, the tasks interleaving; the integration has a fixed `betas=` name, so
    every request merges fixed names with the names of its own task's scope.
    """
    scenario = Scenario("concurrent", betas=("fixed-2025-01-01",))
    runners = {variant: stack.build(variant, scenario) for variant in ("bare", "package")}
    many = [betas(f"task-{i}-2025-01-01") for i in range(config.tasks)]
    shapes = {"solo": (many[:1], config.solo_requests), "many": (many, config.task_requests)}
    ratios: dict[str, list[float]] = {"solo": [], "many": []}
    try:
        for i in range(config.task_rounds):
            for shape, (scopes, per_task) in shapes.items():
                per_request: dict[str, float] = {}
                for variant in ("bare", "package") if i % 2 == 0 else ("package", "bare"):
                    runner = runners[variant]
                    assert isinstance(runner, AsyncRunner)
                    with _quiet_gc():
                        per_request[variant] = statistics.median(runner.concurrent(scopes, per_task))
                ratios[shape].append(per_request["package"] / per_request["bare"])
    finally:
        for runner in runners.values():
            runner.close()
    return statistics.median(ratios["solo"]), statistics.median(ratios["many"])


def outside_rounds(stack: Stack, config: Config, first: int = 0) -> list[float]:
    """Each round's installed / uninstalled for the same request to a host outside the hosts.

    `first`: see `cell_rounds`. The report holds the median.
    """
    first *= config.pass_through_factor
    runners: dict[Variant, Runner] = {v: stack.build(v, OUTSIDE) for v in ("bare", "package")}
    ratios: list[float] = []
    try:
        with ExitStack() as scopes:
            scopes.enter_context(running(runners))
            for names in OUTSIDE.scopes:
                scopes.enter_context(betas(*names))
            for variant, runner in runners.items():
                runner.run(max(1, config.requests // 3))
                if runner.sent != OUTSIDE.own:
                    raise AssertionError(f"{stack.name} {variant} outside the hosts sent {runner.sent!r}")
            for i in range(config.rounds_for(Scenario(PASS_THROUGH))):
                times = dict.fromkeys(runners, 0.0)
                turn = (first + i) % 2
                order: tuple[Variant, ...] = ("package", "bare") if turn else ("bare", "package")
                with _quiet_gc():
                    for _ in range(max(1, config.requests // config.chunk)):
                        for variant in order:
                            times[variant] += runners[variant].run(config.chunk)
                ratios.append(times["package"] / times["bare"])
    finally:
        for runner in runners.values():
            runner.close()
    return ratios


INSTALL_PROGRAM = """
import time, beta_middleware
beta_middleware.betas("files-api-2025-04-14")  # the name check's first use, timed apart
start = time.thread_time()
beta_middleware.install(betas="files-api-2025-04-14", threads=True)
print(time.thread_time() - start)
"""


def measure_install(config: Config) -> float:
    """`install()` at the top of a fresh program, in ms of CPU time: the median of several processes.

    As installed: the package's modules compiled once, in a cache of this run's (see
    `benchmarks.startup`), before the processes that count - else each would compile
    the modules `install()` imports, where PYTHONDONTWRITEBYTECODE is set.
    """
    times = []
    with tempfile.TemporaryDirectory() as cache:
        env = startup._environment(cache)
        for run in range(config.install_runs + 1):
            out = subprocess.run(
                [sys.executable, "-c", INSTALL_PROGRAM],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
                env=env,
            ).stdout
            if run:  # the first one compiles
                times.append(float(out) * 1000)
    return statistics.median(times)


@dataclass(frozen=True)
class Job:
    """A measurement whose rounds are spread over processes: a cell, or an outside measure."""

    kind: Literal["cell", "beside", "outside"]
    """`cell`: `stack` (a name in `STACKS`) in `scenario`; `beside`: `beside(stack)` in
    `scenario`; `outside`: `outside_rounds` of `stack`."""
    stack: str
    scenario: str = OUTSIDE.name

    def run(self, config: Config, first: int = 0) -> list[list[float]]:
        """Run it here: its rounds' [package, hand-written] ratios, or [installed / uninstalled]."""
        stack = next(stack for stack in STACKS if stack.name == self.stack)
        if self.kind == "outside":
            return [outside_rounds(stack, config, first)]
        scenario = next(scenario for scenario in SCENARIOS if scenario.name == self.scenario)
        return list(cell_rounds(beside(stack) if self.kind == "beside" else stack, scenario, config, first))


def measure_jobs(
    jobs: Sequence[Job], config: Config, log: Callable[[str], None] = lambda line: None
) -> list[list[list[float]]]:
    """Every job's rounds, pooled from `config.shares()` fresh processes run one after another.

    Each process measures every job (in a turned order, so that no job always runs first
    or right after the same one) and hands back its rounds; a lone share runs here.
    """
    shares = config.shares()
    if len(shares) == 1:
        return [job.run(config) for job in jobs]
    pooled: list[list[list[float]]] = [[] for _ in jobs]
    for number, (first, rounds) in enumerate(shares):
        turn = len(jobs) * number // len(shares)
        order = list(range(len(jobs)))[turn:] + list(range(len(jobs)))[:turn]
        spec = {
            "config": {**asdict(config), "rounds": rounds, "processes": 1},
            "first": first,
            "jobs": [asdict(jobs[i]) for i in order],
        }
        start = perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--worker"],
            input=json.dumps(spec),
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        ).stdout
        for i, result in zip(order, json.loads(out), strict=True):
            pooled[i] = [p + r for p, r in zip(pooled[i], result, strict=True)] if pooled[i] else result
        log(f"  process {number + 1} of {len(shares)} done ({perf_counter() - start:.0f} s)")
    return pooled


def worker(spec: str, log: Callable[[str], None]) -> str:
    """`--worker`: run the jobs of `spec` (JSON from `measure_jobs`) here; their rounds as JSON."""
    loaded = json.loads(spec)
    config = Config(**loaded["config"])
    results = []
    for fields in loaded["jobs"]:
        job = Job(**fields)
        results.append(job.run(config, loaded["first"]))
        log(f"    {job.kind:7} {job.stack:28} {job.scenario}")
    return json.dumps(results)


def measure(config: Config, log: Callable[[str], None] = lambda line: None) -> Report:
    """Run every measurement for every installed stack and scenario."""
    report = Report()
    jobs: list[Job] = []
    for stack in STACKS:
        if not stack.available():
            report.skipped.append(f"{stack.name} ({stack.requires} not installed)")
            continue
        jobs += [Job("cell", stack.name, scenario.name) for scenario in SCENARIOS]
    jobs += [Job("outside", stack.name) for stack in INSTALLED if stack.hosts and stack.available()]
    for job, rounds in zip(jobs, measure_jobs(jobs, config, log), strict=True):
        stack = next(stack for stack in STACKS if stack.name == job.stack)
        if job.kind == "outside":
            report.outside[stack.name] = statistics.median(rounds[0])
            report.outside_noise[stack.name] = noise(rounds[0])
            log(f"  {stack.name:28} {OUTSIDE.name}: installed / uninstalled {report.outside[stack.name]:.3f}")
            continue
        scenario = next(scenario for scenario in SCENARIOS if scenario.name == job.scenario)
        cell = pooled_cell(stack, scenario, *rounds)
        report.cells.append(cell)
        log(f"  {stack.name:28} {scenario.name:18} package {cell.package:.3f}  hand {cell.hand:.3f}")
    for stack in STACKS:
        if stack.concurrent and stack.available():
            report.concurrency[stack.name] = measure_concurrency(stack, config)
            solo, many = report.concurrency[stack.name]
            log(f"  {stack.name:28} concurrency: 1 task {solo:.3f}, {config.tasks} tasks {many:.3f}")
    report.install_ms = measure_install(config)
    log(f"  install() in a fresh process: {report.install_ms:.2f} ms")
    report.scope = measure_scopes(config)
    log("  scopes measured")
    report.memory = measure_memory(config)
    log("  memory measured")
    report.startup = startup_run.measure(config.startup_rounds)
    log("  start-up under run measured")
    return report


# Each installed stack and the explicit integration it reuses.
EXPLICIT_OF = {
    "requests install()": "requests BetaAdapter",
    "httpx install()": "httpx BetaTransport",
    "httpx2 install()": "httpx2 BetaTransport",
    "httpx2 async install()": "httpx2 AsyncBetaTransport",
    "anthropic install()": "anthropic BetaMiddleware",
}


def beside(installed: Stack) -> Stack:
    """`installed` with its explicit integration in the hand-written slot.

    A cell of it has installed / bare in the package column, explicit / bare in the
    hand-written one, and installed - explicit as its gap.
    """
    explicit = next(stack for stack in STACKS if stack.name == EXPLICIT_OF[installed.name])

    def build(variant: Variant, scenario: Scenario) -> Runner:
        return (
            explicit.build("package", scenario) if variant == "hand" else installed.build(variant, scenario)
        )

    return Stack(
        f"{installed.name} beside explicit",
        installed.requires,
        build,
        hosts=installed.hosts,
        chained=installed.chained,
    )


def measure_beside(config: Config, log: Callable[[str], None] = lambda line: None) -> list[Cell]:
    """Every installed stack beside its explicit integration, in every scenario (`--beside`).

    No budget of its own: it tells what of an installed cell's gap is the installation's.
    """
    jobs = [
        Job("beside", installed.name, scenario.name)
        for installed in INSTALLED
        if installed.available()
        for scenario in SCENARIOS
    ]
    cells = []
    for job, (package, hand) in zip(jobs, measure_jobs(jobs, config, log), strict=True):
        installed = next(stack for stack in INSTALLED if stack.name == job.stack)
        scenario = next(scenario for scenario in SCENARIOS if scenario.name == job.scenario)
        cell = pooled_cell(beside(installed), scenario, package, hand)
        cells.append(cell)
        log(f"  {installed.name:28} {scenario.name:18} installed - explicit {cell.gap:+.3f}")
    return cells


def render_beside(cells: Sequence[Cell]) -> str:
    """The `--beside` table."""
    lines = [
        "| installed stack | scenario | installed / bare | explicit / bare | installed - explicit |",
        "|---|---|---:|---:|---:|",
    ]
    for cell in cells:
        name = cell.stack.removesuffix(" beside explicit")
        lines.append(f"| {name} | {cell.scenario} | {cell.package:.3f} | {cell.hand:.3f} | {cell.gap:+.3f} |")
    return "\n".join(lines)


def machine() -> str:
    """Where the run happened: cores, Python, stack versions."""
    stacks = []
    for name in ("requests", "httpx", "httpx2", "anthropic"):
        try:
            stacks.append(f"{name} {version(name)}")
        except Exception:
            stacks.append(f"{name} not installed")
    return (
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; {', '.join(stacks)}"
    )


def render(report: Report, config: Config) -> str:
    """The report as text (Markdown tables)."""
    parts = [f"Machine: {machine()}", "", report.table(), ""]
    if report.skipped:
        parts += [f"Skipped: {', '.join(report.skipped)}", ""]
    parts += ["| concurrency (package / bare) | 1 task | " + f"{config.tasks} tasks |", "|---|---:|---:|"]
    parts += [f"| {stack} | {solo:.3f} | {many:.3f} |" for stack, (solo, many) in report.concurrency.items()]
    parts += ["", f"| install() | {OUTSIDE.name}: installed / uninstalled |", "|---|---:|"]
    parts += [f"| {stack} | {ratio:.3f} |" for stack, ratio in report.outside.items()]
    if report.install_ms is not None:
        parts += ["", f"install() in a fresh process: {report.install_ms:.2f} ms of CPU time (median)"]
    parts += ["", "| scope enter/exit | value |", "|---|---:|"]
    parts += [f"| {label} | {value:.2f} |" for label, value in report.scope.items()]
    parts += ["", "| memory | value |", "|---|---:|"]
    parts += [f"| {label} | {value:,.0f} |" for label, value in report.memory.items()]
    parts += ["", "| start-up under run (whole processes) | value |", "|---|---:|"]
    parts += [f"| {label} | {value:.1f} |" for label, value in report.startup.items()]
    parts += ["", "Budget:"]
    for what, ok, figures in report.checks():
        parts.append(f"  {'ok  ' if ok else 'FAIL'} {what} ({figures})")
    worst = report.worst_gap()
    if worst is not None:
        parts.append(f"Worst gap: {worst.gap:+.3f} ({worst.stack}, {worst.scenario})")
    parts.append(f"Budget {'holds' if report.holds() else 'does NOT hold'}.")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the report; 0 when the budget holds, 1 when it does not.

    `--instructions ...`: the instruction count instead (`benchmarks.instructions`).
    """
    args_given = list(sys.argv[1:] if argv is None else argv)
    if "--instructions" in args_given:
        from . import instructions

        args_given.remove("--instructions")
        return instructions.main(args_given)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run that checks the code paths only")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"rounds per stack and scenario (default {Config.rounds}; pass-through takes "
        f"{Config.pass_through_factor} times as many)",
    )
    parser.add_argument(
        "--requests", type=int, help=f"requests per variant per round (default {Config.requests})"
    )
    parser.add_argument(
        "--processes",
        type=int,
        help=f"fresh processes the rounds are spread over (default {Config.processes})",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # see measure_jobs
    parser.add_argument(
        "--startup", action="store_true", help="measure only the start-up and first-use cost (a minute or so)"
    )
    parser.add_argument(
        "--beside",
        action="store_true",
        help="measure only each installed stack beside its explicit integration (no budget)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request instead (the budget of record; see --instructions --help)",
    )
    args = parser.parse_args(args_given)
    if args.worker:
        print(worker(sys.stdin.read(), log=lambda line: print(line, file=sys.stderr, flush=True)))
        return 0
    if args.startup:
        started = startup.measure(rounds=1 if args.quick else 21)
        print(startup.render(started))
        return 0 if started.holds() else 1
    config = QUICK if args.quick else Config()
    given = {"rounds": args.rounds, "requests": args.requests, "processes": args.processes}
    if any(given.values()):
        config = Config(**{**asdict(config), **{key: value for key, value in given.items() if value}})
    start = perf_counter()
    if args.beside:
        print(
            render_beside(measure_beside(config, log=lambda line: print(line, file=sys.stderr, flush=True)))
        )
        print(f"({perf_counter() - start:.0f} s)")
        return 0
    report = measure(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(render(report, config))
    started = startup.measure(rounds=1 if config is QUICK else 21)
    print()
    print(startup.render(started))
    print(f"({perf_counter() - start:.0f} s)")
    return 0 if report.holds() and started.holds() else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
