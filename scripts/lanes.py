"""Run noxfile.py's lanes side by side, then `coverage`; each lane's log is printed as it ends.

    python scripts/lanes.py        (scripts/test runs it with nox installed)

One lane more at once than the machine has cores, or $JOBS: a lane also waits (installs,
subprocesses, servers, sleeps), so two at a time on two cores leave the cores idle a third of
the time. Lanes start in the noxfile's order, the longest first. Each lane's output goes to
.test-logs/NAME.log; the summary gives its wall and CPU time (its every process, counted by the
kernel). Exits 1 when a lane or the coverage fails; a lane that skips itself (a tool the
machine lacks) is reported as skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

LOGS = Path(".test-logs")
NOX = [sys.executable, "-m", "nox"]


def duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def start(name: str) -> subprocess.Popen[bytes]:
    with open(LOGS / f"{name}.log", "wb") as log:
        report = LOGS / f"{name}.json"
        command = [*NOX, "--session", name, "--report", str(report)]
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def outcome(name: str, code: int) -> str:
    if code:
        return f"FAILED (exit {code})"
    try:
        results = json.loads((LOGS / f"{name}.json").read_text(encoding="utf-8"))["sessions"]
    except (OSError, ValueError, KeyError):
        return "ok"
    return "skipped (see log)" if all(r["result"] == "skipped" for r in results) else "ok"


def main() -> int:
    listing = subprocess.run([*NOX, "--list", "--json"], capture_output=True, text=True, check=True)
    lanes = [entry["session"] for entry in json.loads(listing.stdout)]
    jobs = int(os.environ.get("JOBS") or (os.cpu_count() or 2) + 1)
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir()
    for data in [*Path().glob(".coverage"), *Path().glob(".coverage.*")]:
        data.unlink()
    print(f"scripts/test: {len(lanes)} lanes, {jobs} at a time; logs in {LOGS}/", flush=True)

    began = time.monotonic()
    waiting = list(lanes)
    running: dict[int, tuple[str, float, subprocess.Popen[bytes]]] = {}
    rows = []
    failed = False
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                name = waiting.pop(0)
                print(f"-> {name}", flush=True)
                process = start(name)
                running[process.pid] = (name, time.monotonic(), process)
            # The kernel's count of the lane's CPU: nox and every process it waited for.
            pid, status, usage = os.wait4(-1, 0)
            if pid not in running:
                continue
            name, lane_began, process = running.pop(pid)
            process.returncode = code = os.waitstatus_to_exitcode(status)
            real, cpu = time.monotonic() - lane_began, usage.ru_utime + usage.ru_stime
            result = outcome(name, code)
            failed = failed or bool(code)
            print(f"\n== {name}: {result} in {duration(real)} (CPU {duration(cpu)})")
            print((LOGS / f"{name}.log").read_text(encoding="utf-8", errors="replace"), flush=True)
            rows.append(f"{name:<18} {result:<18} {duration(real):>8} {duration(cpu):>8}")
    finally:
        for _, _, process in running.values():
            process.terminate()

    if list(Path().glob(".coverage.*")):
        print("\n== coverage of the package, combined over the coverage lanes", flush=True)
        combined = subprocess.run([*NOX, "--session", "coverage"], check=False)
        rows.append(f"{'coverage':<18} {'FAILED' if combined.returncode else 'ok (100%)':<18}")
        failed = failed or bool(combined.returncode)

    print(f"\n{'lane':<18} {'status':<18} {'time':>8} {'CPU':>8}")
    print("\n".join(rows))
    print(f"total: {duration(time.monotonic() - began)}, {jobs} lanes at a time")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
