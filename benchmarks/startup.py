"""Start-up and first-use cost, as whole processes: `python -m benchmarks --startup`.

Each round runs every variant once, in a rotating order, each as a fresh interpreter;
figures are medians over rounds of per-round differences and ratios to `python -c pass`
run in the same round: on a shared, loaded machine only neighbouring figures compare.

The budget:
- `import beta_middleware` takes under 15 ms more than `python -c pass`;
- `python -m beta_middleware check` and `known` take under 0.3 s (the SDK installed);
- the first new name is checked for typos in under 5 ms (it reads the known lists: the
  bundled one and the installed SDK's), each later one in under 0.1 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter

__all__ = ["VARIANTS", "StartupReport", "measure", "render"]

IMPORT_SLACK_MS = 15.0
COMMAND_LIMIT_S = 0.3
FIRST_NAME_LIMIT_MS = 5.0
NEW_NAME_LIMIT_MS = 0.1

VARIANTS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    # its names are imported on first use: the core's (all but install and carry), as a
    # program that scopes betas loads them
    "import beta_middleware": [
        "-c",
        "from beta_middleware import HEADER, betas, known_betas, raise_for_betas",
    ],
    "check": ["-m", "beta_middleware", "check", "files-api-2025-04-14", "brand-new-beta-2031-01-01"],
    "known": ["-m", "beta_middleware", "known"],
}
BASE = "python -c pass"

# In a process of its own: the first new name (which loads the known names), then
# `count` more, each new, timed; printed as JSON. Nothing but `sys` and `time` is imported
# before the first name: what it imports (as `json` did) is part of its cost.
NEW_NAMES = """
import sys, time
from beta_middleware import betas
count = int(sys.argv[1])
start = time.perf_counter()
betas("first-new-name-2031-01-01")
first = time.perf_counter() - start
start = time.perf_counter()
for i in range(count):
    betas(f"new-feature-{i}-2031-01-{i % 28 + 1:02}")
each = (time.perf_counter() - start) / count
import json
print(json.dumps({"first": first, "each": each}))
"""


@dataclass
class StartupReport:
    """Seconds per process for each variant, one figure per round, and the new-name costs."""

    rounds: dict[str, list[float]] = field(default_factory=dict)
    new_name_first_ms: float = 0.0
    new_name_each_ms: float = 0.0

    def median(self, variant: str) -> float:
        """The median seconds of `variant`."""
        return statistics.median(self.rounds[variant])

    def over_base(self, variant: str) -> tuple[float, float]:
        """Median per-round (difference in ms, ratio) of `variant` to `python -c pass`."""
        pairs = list(zip(self.rounds[variant], self.rounds[BASE], strict=True))
        return (
            statistics.median((v - b) * 1000 for v, b in pairs),
            statistics.median(v / b for v, b in pairs),
        )

    def checks(self) -> list[tuple[str, bool, str]]:
        """(what, holds, figures) for each budget line."""
        extra, ratio = self.over_base("import beta_middleware")
        out = [
            (
                f"import beta_middleware <= python -c pass + {IMPORT_SLACK_MS:.0f} ms",
                extra <= IMPORT_SLACK_MS,
                f"+{extra:.1f} ms, ratio {ratio:.2f}",
            )
        ]
        for command in ("check", "known"):
            seconds = self.median(command)
            out.append((f"{command} <= {COMMAND_LIMIT_S} s", seconds <= COMMAND_LIMIT_S, f"{seconds:.3f} s"))
        first, each = self.new_name_first_ms, self.new_name_each_ms
        out.append(
            (
                f"the first new name's typo check < {FIRST_NAME_LIMIT_MS:g} ms",
                first < FIRST_NAME_LIMIT_MS,
                f"{first:.2f} ms",
            )
        )
        out.append(
            (
                f"each later new name's typo check < {NEW_NAME_LIMIT_MS} ms",
                each < NEW_NAME_LIMIT_MS,
                f"{each:.3f} ms",
            )
        )
        return out

    def holds(self) -> bool:
        """Whether every budget line holds."""
        return all(ok for _, ok, _ in self.checks())


def _environment(cache: str) -> dict[str, str]:
    # As installed: compiled modules cached (in a folder of this run's, so that nothing
    # is written next to the sources), whatever PYTHONDONTWRITEBYTECODE says here.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _run(args: Sequence[str], env: dict[str, str]) -> float:
    # No `timeout=`: with one, subprocess waits by polling, sleeping 0.5, 1, 2, 4, 8, 16 ms
    # and so on, which rounds every process's time up to the next step (15.5 ms, 31.5 ms).
    start = perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env)
    return perf_counter() - start


def measure(rounds: int, new_names: int = 1000) -> StartupReport:
    """Run each variant `rounds` times, alternating, and the new-name check once."""
    report = StartupReport(rounds={name: [] for name in VARIANTS})
    names = list(VARIANTS)
    with tempfile.TemporaryDirectory() as cache:
        env = _environment(cache)
        for name in names:  # compile, warm the file system caches: not part of any round
            _run(VARIANTS[name], env)
        for i in range(rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order:
                report.rounds[name].append(_run(VARIANTS[name], env))
        done = subprocess.run(
            [sys.executable, "-c", NEW_NAMES, str(new_names)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    figures = json.loads(done.stdout)
    report.new_name_first_ms = figures["first"] * 1000
    report.new_name_each_ms = figures["each"] * 1000
    return report


def render(report: StartupReport) -> str:
    """The report as text (a Markdown table and the budget lines)."""
    parts = ["| start-up (whole process) | median | over `python -c pass` | ratio |", "|---|---:|---:|---:|"]
    for name in VARIANTS:
        extra, ratio = report.over_base(name)
        parts.append(f"| {name} | {report.median(name) * 1000:.1f} ms | {extra:+.1f} ms | {ratio:.2f} |")
    parts += [
        "",
        f"First new name (reads the known names): {report.new_name_first_ms:.2f} ms; "
        f"each new name after it: {report.new_name_each_ms:.3f} ms",
        "",
        "Start-up budget:",
    ]
    parts += [f"  {'ok  ' if ok else 'FAIL'} {what} ({figures})" for what, ok, figures in report.checks()]
    parts.append(f"Start-up budget {'holds' if report.holds() else 'does NOT hold'}.")
    return "\n".join(parts)
