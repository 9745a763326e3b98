"""Per-request cost counted in instructions: `python -m benchmarks --instructions [--gate]`.

The budget of record. A timing ratio on a shared machine is blurred by load; the number of
instructions a request executes is not. Each cell of the timing benchmark (a stack in a
scenario, see `benchmarks.stacks`) is counted under Valgrind's cachegrind
(`--cache-sim=no`: it only counts) with `PYTHONHASHSEED=0`:

- One Valgrind process per stack group and memory layout imports the stacks and makes
  one request on each. From it a process is forked per variant of each cell (bare, the
  hand-written injector or do-nothing forwarder, the package), which enters the
  scenario's scopes (for an installed stack's package, `install()`), builds its variant
  and warms it up (`warm` requests). That process forks twice: one child makes `short`
  requests, the other `short + extra`, and both exit at once. A forked child's count
  starts from its parent's, so the difference of the two children's totals is exactly
  what the `extra` requests executed: start-up, imports, building and warm-up cancel,
  and both children run in the same memory layout. Each variant warms up in a process of
  its own, from the same state: CPython specialises code by what it has run, so a
  variant counted after others would be counted on code they shaped.
- The memory layout still moves a count (CPython's method cache picks a slot from a
  class's version tag and the name's address): the same cell in another environment read
  up to 0.4% of a bare request apart. So each cell is counted in `layouts` layouts (see
  `_pad`: an environment variable, `BM_PAD`, of differing lengths, and as many small
  objects and class version tags, before the stacks are imported), and a figure is the
  median over them; the spread (largest minus smallest) is reported beside it. The gate
  forks its layouts after the imports instead (`Plan.fork_layouts`).
- The collector is off during the counted requests, as in the timing benchmark: a
  collection's cost would fall on whichever request crosses its threshold, a full
  collection's in proportion to everything the process holds.

Figures are shares of one bare request of the same stack, per layout, then medians:
- hand-written over bare: what the least possible injector costs;
- ours over hand: the package minus the hand-written injector (in a pass-through cell,
  the do-nothing forwarder; in a `hosts=` cell, the injector with a host check);
- installed over explicit: an installed stack's package minus its explicit integration's.

The gate (`GATE_CELLS` with `--gate`; every cell otherwise): pass-through within
+0.75% over the forwarder, every cell with betas active within +1.5% over the
hand-written injector, every installed cell within +0.75% over its explicit one.
Exit status 1 when a limit is exceeded, 2 when valgrind is missing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from beta_middleware import betas, install

from .run import machine
from .stacks import (
    FIXED,
    INSTALLED,
    ONE_NAME,
    OUTSIDE,
    OWN_FIXED,
    PASS_THROUGH,
    SCENARIOS,
    STACKS,
    VARIANTS,
    Scenario,
    Stack,
    Variant,
    install_settings,
)

__all__ = [
    "GATE_CELLS",
    "INSTALL_HINT",
    "SCENARIOS_COUNTED",
    "CellFigures",
    "Check",
    "Figure",
    "Plan",
    "Result",
    "count",
    "figure",
    "main",
    "per_request",
]

PASS_THROUGH_LIMIT = 0.0075
"""Pass-through: ours minus the do-nothing forwarder, as a share of a bare request."""
BETAS_LIMIT = 0.015
"""A cell with betas active: ours minus the hand-written injector, as a share of a bare request."""
INSTALLED_LIMIT = 0.0075
"""An installed cell: installed minus its explicit integration, as a share of a bare request."""

PAD = "BM_PAD"
"""The environment variable whose length makes the memory layouts."""
PAD_STEP = 523
"""How much longer `PAD` is in each next layout: a prime, so that the layouts differ in
every alignment (8, 16, 64 bytes, a page), not only in how far everything moved."""

INSTALL_HINT = (
    "valgrind is not installed: the instruction count runs under it. Install it with "
    "`apt-get install valgrind` (Debian, Ubuntu), `dnf install valgrind` (Fedora), or your "
    "system's package manager; or set VALGRIND to its path."
)

SCENARIOS_COUNTED: tuple[Scenario, ...] = (SCENARIOS[0], ONE_NAME, *SCENARIOS[1:], FIXED, OWN_FIXED, OUTSIDE)
"""What is counted: the timing benchmark's scenarios, one scope name, and a request to a host
outside `hosts=` (on the stacks whose integration takes `hosts=`)."""

EXPLICIT_OF = {
    "requests install()": "requests BetaAdapter",
    "httpx install()": "httpx BetaTransport",
    "httpx2 install()": "httpx2 BetaTransport",
    "httpx2 async install()": "httpx2 AsyncBetaTransport",
    "anthropic install()": "anthropic BetaMiddleware",
}
"""Each installed stack and the explicit integration it is held against."""

_HOSTS = ("hosts=", OUTSIDE.name)
GATE_CELLS: tuple[tuple[str, str], ...] = (
    *(("requests BetaAdapter", s) for s in (PASS_THROUGH, ONE_NAME.name, "2 active + own", "hosts=")),
    *(("requests install()", s) for s in (PASS_THROUGH, ONE_NAME.name, "hosts=")),
    *(("httpx BetaTransport", s) for s in (PASS_THROUGH, ONE_NAME.name, "hosts=")),
    *(("httpx install()", s) for s in (PASS_THROUGH, ONE_NAME.name)),
    *(
        ("httpx2 BetaTransport", s)
        for s in (PASS_THROUGH, ONE_NAME.name, "2 active + own", FIXED.name, OWN_FIXED.name, *_HOSTS)
    ),
    *(("httpx2 AsyncBetaTransport", s) for s in (PASS_THROUGH, ONE_NAME.name)),
    *(("httpx2 install()", s) for s in (PASS_THROUGH, ONE_NAME.name, *_HOSTS)),
    *(("anthropic BetaMiddleware", s) for s in (PASS_THROUGH, ONE_NAME.name)),
    *(("anthropic install()", s) for s in (PASS_THROUGH, ONE_NAME.name)),
)
"""The cells the test command's gate counts: every stack, explicit and installed, with nothing
active and with one scope name; the caller's own header, `betas=`, `hosts=` and a host outside
them on some (each such path is one piece of code, shared by the stacks that take it); one async stack
(the async transports share the sync ones' merge and host code). An installed cell is counted
beside its explicit one, whose bare and hand-written variants it shares. The whole table
(`python -m benchmarks --instructions`) has every cell."""


def _stack(name: str) -> Stack:
    return next(stack for stack in STACKS if stack.name == name)


def _scenario(name: str) -> Scenario:
    return next(scenario for scenario in SCENARIOS_COUNTED if scenario.name == name)


def all_cells() -> tuple[tuple[str, str], ...]:
    """Every cell: each stack in each counted scenario (the `hosts=` ones where it takes `hosts=`)."""
    return tuple(
        (stack.name, scenario.name)
        for stack in STACKS
        for scenario in SCENARIOS_COUNTED
        if stack.hosts or scenario.hosts is None
    )


@dataclass(frozen=True)
class Plan:
    """What to count, and how many requests."""

    cells: tuple[tuple[str, str], ...]
    """(stack name, scenario name) pairs."""
    layouts: int = 5
    short: int = 2
    """Requests of the shorter child; what the longer one makes more is `extra`."""
    extra: int = 50
    """Requests counted per variant, per cell and layout. Each count is exact, so this only
    spreads a one-off cost (a cache filling, a table resizing) thin; an SDK call costs about
    five httpx2 requests, and takes a fifth of them."""
    warm: int = 100
    """Requests each variant makes in its own process before the counted ones, so that its
    code is specialised and its caches filled. CPython retries a specialisation that failed
    after twice as many runs each time, so a request keeps getting cheaper for hundreds of
    requests: an installed httpx request cost 1% of a bare one more after 20 requests than
    after 100, and within 0.07% of that after 200. Every variant makes as many, so that the
    stack's own code, which they share, is as far along in each."""

    fork_layouts: bool = False
    """Count every layout of a group of cells in a process forked, after the stacks were
    imported, from one Valgrind process, instead of each in a fresh one. Four times faster
    (importing the anthropic SDK takes 30 s under Valgrind); a layout then moves what is
    allocated and every class version tag handed out after the imports, but not what the
    imports themselves allocated. The gate's way (its time limit); the table's figures are
    from fresh processes. On eight cells of four stacks the two ways' medians agreed within
    their spreads across layouts."""

    def extra_for(self, stack: Stack) -> int:
        """The requests counted on `stack`."""
        return max(1, self.extra // 5) if stack.requires == "anthropic" else self.extra


def per_request(short_total: int, long_total: int, short: int, long: int) -> float:
    """Instructions per request from two children's totals (`short` and `long` requests each)."""
    if long <= short:
        raise ValueError(f"the longer run ({long}) must make more requests than the shorter ({short})")
    return (long_total - short_total) / (long - short)


@dataclass(frozen=True)
class Figure:
    """One figure over the layouts: its median and spread (largest minus smallest)."""

    median: float
    spread: float
    values: tuple[float, ...]


def figure(values: Iterable[float]) -> Figure:
    """The median and spread of `values` (one per layout)."""
    values = tuple(values)
    if not values:
        raise ValueError("no values")
    return Figure(statistics.median(values), max(values) - min(values), values)


@dataclass(frozen=True)
class CellFigures:
    """A cell's figures, each over the layouts."""

    stack: str
    scenario: str
    bare: Figure
    """Instructions per bare request."""
    hand: Figure
    """Hand-written (or forwarder) minus bare, as a share of bare."""
    ours: Figure
    """Package minus hand-written, as a share of bare."""
    over_explicit: Figure | None = None
    """Installed stacks: package minus the explicit integration's package, as a share of bare."""


@dataclass(frozen=True)
class Check:
    """One limit on one figure."""

    what: str
    figure: Figure
    limit: float

    @property
    def holds(self) -> bool:
        """Whether the figure's median is within the limit."""
        return self.figure.median <= self.limit


Counts = dict[tuple[str, str], dict[Variant, list[float]]]
"""(stack, scenario) -> variant -> instructions per request, one per layout."""


@dataclass
class Result:
    """What a count measured: instructions per request per cell, variant and layout."""

    plan: Plan
    counts: Counts = field(default_factory=dict)
    seconds: float = 0.0

    def cells(self) -> list[CellFigures]:
        """The figures of every counted cell, in the plan's order."""
        out = []
        for key in self.plan.cells:
            if key not in self.counts:
                continue
            stack, scenario = key
            explicit = self.counts.get((EXPLICIT_OF.get(stack, ""), scenario))
            # an installed cell counted beside its explicit one has only its package variant
            counts = {**(explicit or {}), **self.counts[key]}
            bare = counts["bare"]
            out.append(
                CellFigures(
                    stack,
                    scenario,
                    figure(bare),
                    figure((h - b) / b for h, b in zip(counts["hand"], bare, strict=True)),
                    figure(
                        (p - h) / b for p, h, b in zip(counts["package"], counts["hand"], bare, strict=True)
                    ),
                    None
                    if explicit is None
                    else figure(
                        (p - e) / b
                        for p, e, b in zip(counts["package"], explicit["package"], bare, strict=True)
                    ),
                )
            )
        return out

    def checks(self) -> list[Check]:
        """The gate's limits on every counted cell."""
        out = []
        for cell in self.cells():
            if cell.scenario == PASS_THROUGH:
                out.append(
                    Check(
                        f"{cell.stack}, {cell.scenario}: ours over the forwarder",
                        cell.ours,
                        PASS_THROUGH_LIMIT,
                    )
                )
            else:
                reference = "the host check" if _scenario(cell.scenario).hosts else "the injector"
                out.append(
                    Check(f"{cell.stack}, {cell.scenario}: ours over {reference}", cell.ours, BETAS_LIMIT)
                )
            if cell.over_explicit is not None:
                out.append(
                    Check(
                        f"{cell.stack}, {cell.scenario}: installed over explicit",
                        cell.over_explicit,
                        INSTALLED_LIMIT,
                    )
                )
        return out

    def holds(self) -> bool:
        """Whether every limit holds."""
        return all(check.holds for check in self.checks())

    def to_json(self) -> dict[str, Any]:
        """Everything, for `--json`: the plan, the raw counts, the figures and the checks."""
        return {
            "plan": asdict(self.plan),
            "seconds": self.seconds,
            "counts": [
                {"stack": stack, "scenario": scenario, **counts}
                for (stack, scenario), counts in self.counts.items()
            ],
            "cells": [asdict(cell) for cell in self.cells()],
            "checks": [
                {"what": c.what, "median": c.figure.median, "spread": c.figure.spread, "limit": c.limit}
                | {"holds": c.holds}
                for c in self.checks()
            ],
        }


def _share(value: float) -> str:
    return f"{value * 100:+.2f}%"


def _spread(value: float) -> str:
    return f"{value * 100:.2f}%"


def _count(value: float) -> str:
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"


def table(result: Result) -> str:
    """Every cell's figures: medians over the layouts, with the spread of the two that are gated."""
    lines = [
        "| stack | scenario | bare | hand-written over bare | ours over hand | spread "
        "| installed over explicit | spread |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result.cells():
        over, spread = ("-", "-")
        if c.over_explicit is not None:
            over, spread = _share(c.over_explicit.median), _spread(c.over_explicit.spread)
        lines.append(
            f"| {c.stack} | {c.scenario} | {_count(c.bare.median)} | {_share(c.hand.median)} "
            f"| {_share(c.ours.median)} | {_spread(c.ours.spread)} | {over} | {spread} |"
        )
    return "\n".join(lines)


def _line(check: Check) -> str:
    return (
        f"{'ok  ' if check.holds else 'FAIL'} {check.what}: {_share(check.figure.median)} "
        f"(spread {_spread(check.figure.spread)}) <= {_share(check.limit)}"
    )


def verdict(result: Result) -> str:
    """One line: whether the gate holds, and how many limits were checked."""
    checks = result.checks()
    failed = sum(not check.holds for check in checks)
    if not failed:
        return f"Gate holds ({len(checks)} limits)."
    return f"Gate does NOT hold: {failed} of {len(checks)} limits exceeded."


def render(result: Result) -> str:
    """Every cell, the summary by stack, then every limit of the gate (for the terminal)."""
    lines = [table(result), "", summary(result), "", "Gate:"]
    lines += [f"  {_line(check)}" for check in result.checks()]
    lines.append(verdict(result))
    return "\n".join(lines)


def markdown(result: Result, where: str) -> str:
    """What docs/performance.md shows: the summary, every cell, the limits exceeded, where it ran."""
    lines = [summary(result), "", table(result), "", verdict(result)]
    lines += [f"- {_line(check)}" for check in result.checks() if not check.holds]
    lines += ["", f"Counted on {where}."]
    return "\n".join(lines)


def summary(result: Result) -> str:
    """The issue's table: one row per explicit stack, medians as shares of a bare request."""
    cells = {(c.stack, c.scenario): c for c in result.cells()}
    installed_of = {explicit: installed for installed, explicit in EXPLICIT_OF.items()}

    def ours(stack: str | None, scenario: str) -> str:
        cell = cells.get((stack or "", scenario))
        return "-" if cell is None else _share(cell.ours.median)

    lines = [
        "| stack | bare request | hand-written injector | ours, one scope name, over hand "
        "| installed, over hand | hosts= over a hand-written host check "
        "| pass-through over a do-nothing forwarder | installed pass-through over it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stack in STACKS:
        if stack in INSTALLED:
            continue
        one = cells.get((stack.name, ONE_NAME.name))
        passing = cells.get((stack.name, PASS_THROUGH))
        if one is None and passing is None:
            continue
        bare = (one or passing).bare.median  # type: ignore[union-attr]
        installed = installed_of.get(stack.name)
        lines.append(
            f"| {stack.name} | {_count(bare)} | {'-' if one is None else _share(one.hand.median)} "
            f"| {ours(stack.name, ONE_NAME.name)} | {ours(installed, ONE_NAME.name)} "
            f"| {ours(stack.name, 'hosts=')} | {ours(stack.name, PASS_THROUGH)} "
            f"| {ours(installed, PASS_THROUGH)} |"
        )
    return "\n".join(lines)


# The child side: runs under valgrind.


def _groups(cells: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The cells by the module their stack needs: one Valgrind process imports only that stack."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for key in cells:
        groups.setdefault(_stack(key[0]).requires, []).append(key)
    return groups


_padding: list[object] = []
"""What `_pad` allocated, kept."""


def _pad(layout: int) -> None:
    """Make layout number `layout` of what is allocated from now on.

    A count moves with where objects are and in what order classes were first looked up:
    CPython's method cache picks a slot from a class's version tag (handed out in order)
    and the name's address, so two hot look-ups collide in one layout and not in another.
    The environment variable's length alone moves the stack and little of the heap. So
    this allocates as many small objects of assorted sizes, which moves every object
    allocated after it, and takes a version tag for every tenth (a class, looked up
    once), which moves every tag handed out after it.
    """
    for i in range(layout * PAD_STEP // 8):
        _padding.append(bytes(i % 200))
        if i % 10 == 0:
            cls = type(f"Pad{i}", (), {})
            getattr(cls, "pad", None)  # its version tag is handed out here
            _padding.append(cls)


def child(spec: dict[str, Any], out: Callable[[str], None]) -> None:
    """`--child`: count the cells of `spec` (a `Plan` as JSON) in this process, under cachegrind.

    `spec["layouts"]`: the layout this process was started in, or with `fork_layouts` every
    layout, each counted in a process forked after the imports. `out` gets a JSON line per
    counted child: its pid, layout, cell, variant and requests.
    """
    spec = dict(spec)
    layouts: list[int] = spec.pop("layouts")
    plan = Plan(**{**spec, "cells": tuple((stack, scenario) for stack, scenario in spec["cells"])})
    cells = [(_stack(stack), _scenario(scenario)) for stack, scenario in plan.cells]
    if not plan.fork_layouts:
        _pad(layouts[0])
    # Import each stack, and what it imports on its first request, here: once for every
    # process forked below. One request only: what a variant's code is specialised for is
    # then its own requests' doing (code that saw other requests first, with another
    # header, read up to 0.5% of a bare request apart).
    for stack in dict.fromkeys(_bare_of(stack) for stack, _ in cells):
        runner = stack.build("bare", SCENARIOS[0])
        runner.run(1)
        runner.close()
    for layout in layouts:
        if plan.fork_layouts:
            _fork(f"layout {layout}", _count_layout, plan, cells, layout, out, True)
        else:
            _count_layout(plan, cells, layout, out, False)


def _count_layout(
    plan: Plan, cells: Sequence[tuple[Stack, Scenario]], layout: int, out: Callable[[str], None], pad: bool
) -> None:
    """Count `cells` in layout `layout` (made here first if `pad`): a process per variant."""
    if pad:
        _pad(layout)
    counted = set(plan.cells)
    for stack, scenario in cells:
        for variant in _variants(stack, scenario, counted):
            what = f"{stack.name} {variant} in {scenario.name!r}"
            _fork(what, _count_variant, stack, scenario, variant, plan, layout, out)


def _fork(what: str, body: Callable[..., None], *args: Any) -> None:
    """Run `body(*args)` in a forked process and wait for it.

    The process exits as soon as `body` returns (status 1 on an error): no clean-up runs.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body(*args)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _wait(pid, what)


def _variants(stack: Stack, scenario: Scenario, cells: set[tuple[str, str]]) -> tuple[Variant, ...]:
    """The variants counted for a cell.

    An installed stack's bare and hand-written variants are its explicit stack's, built the
    same way: where that cell is counted too, its figures serve both.
    """
    if (EXPLICIT_OF.get(stack.name), scenario.name) in cells:
        return ("package",)
    return VARIANTS


def _bare_of(stack: Stack) -> Stack:
    """The stack whose bare variant `stack`'s is (an installed stack's is its explicit one's)."""
    return _stack(EXPLICIT_OF.get(stack.name, stack.name))


def _wait(pid: int, what: str) -> None:
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"counting {what} failed (wait status {status})")


def _count_variant(
    stack: Stack, scenario: Scenario, variant: Variant, plan: Plan, layout: int, out: Callable[[str], None]
) -> None:
    """Count one variant of a cell in two forked children (see the module's docstring).

    This runs in a process of its own, forked for it: every variant of every cell starts
    from the same warmed state, so none is counted with the stack's code more or less
    specialised than another's. An installed stack's package variant is a bare stack built
    after `install()`, as a program builds its clients; its bare and hand-written variants
    run uninstalled, as in a program without the installation.
    """
    short = plan.short
    long = short + plan.extra_for(stack)
    for names in scenario.scopes:
        betas(*names).__enter__()  # left by os._exit, as everything here
    if variant == "package" and stack in INSTALLED:
        install(**install_settings(scenario))
    runner = stack.build(variant, scenario)
    runner.run(plan.warm)
    want = scenario.expected if variant != "bare" else scenario.own
    if runner.sent != want:
        raise AssertionError(
            f"{stack.name} {variant} in {scenario.name!r} sent {runner.sent!r}, expected {want!r}"
        )
    gc.collect()
    gc.disable()
    for n in (short, long):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            runner.run(n)
            os._exit(0)  # at once: no clean-up, nothing flushed, in either child alike
        _wait(pid, f"{stack.name} {variant} in {scenario.name!r}")
        record = {"pid": pid, "layout": layout, "stack": stack.name, "scenario": scenario.name}
        record |= {"variant": variant}
        out(json.dumps(record | {"requests": n}))


# The parent side: runs the Valgrind processes and reads their counts.

_TOTAL = re.compile(r"^==\d+== I\s+refs:\s+([\d,]+)\s*$", re.MULTILINE)


def read_total(log: str) -> int:
    """The instruction total in a cachegrind log (its `I refs:` line)."""
    match = _TOTAL.search(log)
    if match is None:
        raise ValueError(f"no instruction total in the cachegrind log:\n{log[-2000:]}")
    return int(match.group(1).replace(",", ""))


def valgrind() -> str | None:
    """The valgrind to run: $VALGRIND, else the one on PATH; None when there is none."""
    given = os.environ.get("VALGRIND")
    if given:
        return given if shutil.which(given) else None
    return shutil.which("valgrind")


def environment(layout: int, cache: str) -> dict[str, str]:
    """The counted processes' environment in layout number `layout`.

    The fixed hash seed makes every str hash, so every dict and set of names, the same
    from run to run; compiled modules come from `cache`, filled before (as installed).
    """
    # Nothing that would trace the counted processes (coverage's subprocess measuring).
    dropped = ("PYTHONDONTWRITEBYTECODE", PAD)
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("COVERAGE_")}
    env |= {"PYTHONHASHSEED": "0", "PYTHONPYCACHEPREFIX": cache, PAD: "x" * (layout * PAD_STEP)}
    return env


def _command(tool: str, logs: str) -> list[str]:
    return [
        tool,
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--log-file={logs}/log.%p",  # one log per process, forked ones too
        "--cachegrind-out-file=/dev/null",  # only the totals are read
        sys.executable,
        "-m",
        "benchmarks",
        "--instructions",
        "--child",
    ]


Counted = dict[tuple[int, str, str, Variant], float]
"""(layout, stack, scenario, variant) -> instructions per request."""


def _count_group(
    tool: str, cells: Sequence[tuple[str, str]], plan: Plan, layouts: Sequence[int], cache: str
) -> Counted:
    """Count `cells` (of one group) in `layouts`: one Valgrind process (see `child`)."""
    spec = {**asdict(plan), "cells": list(cells), "layouts": list(layouts)}
    with tempfile.TemporaryDirectory(prefix="instructions-") as logs:
        done = subprocess.run(
            _command(tool, logs),
            input=json.dumps(spec),
            stdout=subprocess.PIPE,
            text=True,
            env=environment(layouts[0] if len(layouts) == 1 else 0, cache),
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"counting {cells} in layouts {list(layouts)} failed (exit {done.returncode})")
        totals: dict[tuple[int, str, str, Variant], dict[int, int]] = {}
        for line in done.stdout.splitlines():
            record = json.loads(line)
            log = Path(logs, f"log.{record['pid']}").read_text()
            key = (record["layout"], record["stack"], record["scenario"], record["variant"])
            totals.setdefault(key, {})[record["requests"]] = read_total(log)
    out = {}
    for key, by_n in totals.items():
        (short, short_total), (long, long_total) = sorted(by_n.items())
        out[key] = per_request(short_total, long_total, short, long)
    return out


def _rehearse(plan: Plan, cache: str) -> None:
    """Run `plan`'s cells once natively, with a request or two each.

    It fills `cache` with the modules they import (compiling under Valgrind would take
    minutes) and fails fast on a cell that sends the wrong header.
    """
    tiny = {**asdict(plan), "short": 1, "extra": 1, "warm": 2, "layouts": [0], "fork_layouts": False}
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--instructions", "--child"],
        input=json.dumps(tiny),
        stdout=subprocess.DEVNULL,
        text=True,
        env=environment(0, cache),
        check=True,
    )


def bytecode_cache() -> str:
    """Where the counted processes' compiled modules go.

    $PYTHONPYCACHEPREFIX, else the environment's own `.pycache`: a fixed path, because its
    name is in every module's file name, and a name that differed from run to run would
    move the count.
    """
    return os.environ.get("PYTHONPYCACHEPREFIX") or str(Path(sys.prefix, ".pycache"))


def count(plan: Plan, jobs: int = 2, log: Callable[[str], None] = lambda line: None) -> Result:
    """Count every cell of `plan` in every layout, `jobs` Valgrind processes at a time."""
    tool = valgrind()
    if tool is None:
        raise FileNotFoundError(INSTALL_HINT)
    start = perf_counter()
    groups = _groups(plan.cells)
    # A process per group and layout, or per group: the SDK's first, so that the short ones
    # fill the gaps at the end.
    every = tuple(range(plan.layouts))
    work = [(every if plan.fork_layouts else (layout,), group) for group in groups for layout in every]
    work = sorted(dict.fromkeys(work), key=lambda job: job[1] != "anthropic")
    cache = bytecode_cache()
    _rehearse(plan, cache)

    def run(job: tuple[tuple[int, ...], str]) -> Counted:
        layouts, group = job
        began = perf_counter()
        counted = _count_group(tool, groups[group], plan, layouts, cache)
        where = f"layout {layouts[0]}" if len(layouts) == 1 else f"{len(layouts)} layouts"
        log(f"  {group}, {where}: {len(groups[group])} cells in {perf_counter() - began:.0f} s")
        return counted

    result = Result(plan)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for counted in pool.map(run, work):
            for (layout, stack, scenario, variant), value in counted.items():
                per_layout = result.counts.setdefault((stack, scenario), {})
                per_layout.setdefault(variant, [0.0] * plan.layouts)[layout] = value
    # The plan's order, not the order the jobs finished in.
    result.counts = {key: result.counts[key] for key in plan.cells if key in result.counts}
    result.seconds = perf_counter() - start
    return result


def where(plan: Plan) -> str:
    """The machine, Python, stacks and valgrind, and how the layouts were made."""
    tool = valgrind()
    version = (
        subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip() if tool else "-"
    )
    layouts = "forked after the imports" if plan.fork_layouts else "each a fresh process"
    return f"{machine()}; {version}; {plan.layouts} layouts, {layouts}"


def update_docs(path: Path, table: str) -> None:
    """Put `table` between the count-table markers of `path` (docs/performance.md)."""
    begin, end = "<!-- instructions table: begin -->", "<!-- instructions table: end -->"
    text = path.read_text()
    head, found, rest = text.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise ValueError(f"{path} has no {begin} ... {end} markers")
    path.write_text(f"{head}{begin}\n{table}\n{end}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Count, print the tables and the gate; 0 when it holds, 1 when not, 2 without valgrind."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks --instructions", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--gate", action="store_true", help="count only the test command's gate cells")
    parser.add_argument(
        "--cell",
        nargs=2,
        action="append",
        metavar=("STACK", "SCENARIO"),
        help="count this cell (repeatable), e.g. --cell 'httpx2 BetaTransport' hosts=",
    )
    parser.add_argument(
        "--layouts", type=int, default=Plan.layouts, help="memory layouts (default %(default)s)"
    )
    parser.add_argument(
        "--requests", type=int, default=Plan.extra, help="requests counted per variant (default %(default)s)"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="Valgrind processes at a time (default: cores)"
    )
    parser.add_argument(
        "--fork-layouts",
        action="store_true",
        help="make the layouts in processes forked after the imports (the gate's way; see Plan.fork_layouts)",
    )
    parser.add_argument("--json", type=Path, help="write every count and figure here")
    parser.add_argument(
        "--docs", type=Path, help="put the table into this file between its markers (docs/performance.md)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # see `child`
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(sys.stdin.read()), out=lambda line: print(line, flush=True))
        return 0
    if valgrind() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    cells = all_cells()
    if args.gate:
        cells = GATE_CELLS
        args.fork_layouts = True
    if args.cell:
        unknown = [cell for cell in map(tuple, args.cell) if cell not in all_cells()]
        if unknown:
            parser.error(f"no such cell: {unknown}; cells: {all_cells()}")
        cells = tuple((stack, scenario) for stack, scenario in args.cell)
    available = tuple(cell for cell in cells if _stack(cell[0]).available())
    for stack in dict.fromkeys(cell[0] for cell in cells if cell not in available):
        print(f"skipped: {stack} ({_stack(stack).requires} not installed)", file=sys.stderr)
    plan = Plan(cells=available, layouts=args.layouts, extra=args.requests, fork_layouts=args.fork_layouts)
    result = count(plan, args.jobs, log=lambda line: print(line, file=sys.stderr, flush=True))
    text = render(result)
    print(text)
    print(f"({result.seconds:.0f} s, {plan.layouts} layouts, {plan.extra} requests per variant)")
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=1))
    if args.docs:
        update_docs(args.docs, markdown(result, where(plan)))
    return 0 if result.holds() else 1
