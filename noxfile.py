"""The test matrix: one nox session per lane of `scripts/test`, in the order the lanes start.

`scripts/test` runs every lane side by side (scripts/lanes.py) and then `coverage`, which
combines the coverage lanes' data; `scripts/test --lane NAME` is `nox -s NAME`. Environments
are made with uv under `.nox/` and kept between runs. The lanes:

- the whole suite on each of Python 3.13, 3.12, 3.10 and 3.11. Coverage runs on the newest:
  CPython 3.11's tracing loses the caller's frame after some asyncio request paths, which
  would report lines as missed that do run. `coverage run`, not pytest-cov: pytest imports
  this package (its pytest11 plugin) before pytest-cov starts.
- the property tests (tests/test_properties.py) draw 2,000 examples each under CI, 300
  otherwise. Under CI hypothesis derandomizes, so every lane would draw the very same 2,000:
  3.12 holds CI's strength (no coverage: tracing slows them most), the others draw 300, which
  already reach every line of the package in the coverage lane.
- `anthropic0`, `anthropic0-oldest`: anthropic 0.x (on httpx) cannot share an environment with
  anthropic >= 1.0 (on httpx2). Its tests carry the marker `anthropic0`: the newest 0.x, and
  0.108 (the first release with middleware) with httpx 0.25 (the lowest it takes).
- `lowest`: the stacks' tests on the lowest requests, httpx and httpx2 the extras allow
  together (pyproject.toml's dev-lowest), on the lowest Python.
- `clusters`: the Dask and Ray recipes of docs/processes.md on real local clusters, in an
  environment of their own (the `clusters` extra is 200 MB no other lane needs).
- `instructions`: the per-request budget counted under valgrind (benchmarks/instructions.py).
- `frameworks` (scripts/test-frameworks, its own environments), `checks`, `site`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.needs_version = ">=2026.10"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.download_python = "never"  # the interpreters are the machine's (pyenv, PATH)
nox.options.error_on_missing_interpreters = True

# Every file of tests for anthropic 0.x, and the stacks' own tests for the lowest releases.
ANTHROPIC0 = [
    "tests/test_sdk_httpx.py",
    "tests/test_anthropic.py",
    "tests/test_anthropic_drop.py",
    "tests/test_install_anthropic.py",
    "tests/test_compat.py",
]
STACKS = [
    "tests/test_requests.py",
    "tests/test_httpx.py",
    "tests/test_drop.py",
    "tests/test_bodies.py",
    "tests/test_header.py",
    "tests/test_hot_paths.py",
    "tests/test_compat.py",
]
FEWER_EXAMPLES = {"PROPERTY_EXAMPLES": "300"}


def python(version: str) -> str:
    """The newest `version` (3.X) under pyenv, whose shims run only its global ones; else `version`."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv", "versions")
    patches = [p.name for p in root.glob(f"{version}.*") if re.fullmatch(rf"{version}\.\d+", p.name)]
    newest = max(patches, key=lambda name: int(name.rpartition(".")[2]), default=None)
    return str(root / newest / "bin" / "python") if newest else version


def prepare(session: nox.Session, *install: str) -> None:
    """Install into the session's environment; compile what its processes import once.

    Bytecode goes to the environment's own .pycache whatever PYTHONDONTWRITEBYTECODE says:
    else every test process and every subprocess compiles all it imports from source again
    (anthropic alone takes 3 s more CPU to import from source than from bytecode).
    """
    session.env["PYTHONPYCACHEPREFIX"] = str(Path(session.virtualenv.location, ".pycache"))
    session.env["PYTHONDONTWRITEBYTECODE"] = None
    session.install(*install)


def pytest(
    session: nox.Session, *args: str, coverage: bool = False, env: dict[str, str] | None = None
) -> None:
    """Run pytest (under branch coverage, its data kept for `coverage`), failing on no tests."""
    head = ["coverage", "run", "--parallel-mode", "-m"] if coverage else []
    session.run("python", "-m", *head, "pytest", "-q", "-p", "no:cacheprovider", *args, env=env)


def system_package(session: nox.Session, commands: list[str], packages: list[str]) -> bool:
    """Whether `commands` are on PATH, installing `packages` with apt-get where we are root."""
    if all(shutil.which(command) for command in commands):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    apt = ["apt-get", "install", "-y", "-qq", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(apt, env=env, stdout=subprocess.DEVNULL, check=False).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(apt, env=env, stdout=subprocess.DEVNULL, check=True)
    session.log(f"installed {' '.join(packages)}")
    return True


@nox.session(python=python("3.11"))
def instructions(session: nox.Session) -> None:
    """The instruction gate: the gate's cells under cachegrind, on pinned stacks (CPython 3.11)."""
    if not system_package(session, ["valgrind"], ["valgrind"]):
        session.skip(
            "valgrind is not installed, so the instruction gate did not run. Install it "
            "(apt-get install valgrind, dnf install valgrind, ...) and run this lane again."
        )
    prepare(session, "-c", "benchmarks/instructions-pins.txt", "-e", ".[all]")
    Path(".test-logs").mkdir(exist_ok=True)
    gate = ["--instructions", "--gate", "--json", ".test-logs/instructions.json"]
    session.run("python", "-m", "benchmarks", *gate)


@nox.session(name="3.13", python=python("3.13"))
def newest(session: nox.Session) -> None:
    """The whole suite under coverage, on the newest Python."""
    prepare(session, "-e", ".[test]")
    markers = ["-m", "not anthropic0", "--hypothesis-profile=coverage"]
    pytest(session, *markers, coverage=True, env=FEWER_EXAMPLES)


@nox.session(name="3.12", python=python("3.12"))
def full_examples(session: nox.Session) -> None:
    """The whole suite; under CI the property tests' full 2,000 examples."""
    prepare(session, "-e", ".[test]")
    pytest(session, "-m", "not anthropic0")


@nox.session(name="3.10", python=python("3.10"))
def oldest(session: nox.Session) -> None:
    """The whole suite on the oldest Python."""
    prepare(session, "-e", ".[test]")
    pytest(session, "-m", "not anthropic0", env=FEWER_EXAMPLES)


@nox.session(name="3.11", python=python("3.11"))
def middle(session: nox.Session) -> None:
    """The whole suite on Python 3.11."""
    prepare(session, "-e", ".[test]")
    pytest(session, "-m", "not anthropic0", env=FEWER_EXAMPLES)


@nox.session(python=False)
def frameworks(session: nox.Session) -> None:
    """The framework suite, in its own pinned environments."""
    session.run("scripts/test-frameworks", external=True)


@nox.session(python=python("3.11"))
def checks(session: nox.Session) -> None:
    """ruff, mypy --strict and the docs site built strictly."""
    prepare(session, "-e", ".[dev,docs]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("mkdocs", "build", "--strict", "--quiet", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=python("3.11"))
def site(session: nox.Session) -> None:
    """The docs site as a reader sees it: each page in a headless Chromium."""
    prepare(session, "-e", ".[dev,docs]")
    # The system's Chromium and its driver (no browser download), installed on CI only.
    browser = ["chromium", "chromedriver"]
    if os.environ.get("CI"):
        found = system_package(session, browser, ["chromium", "chromium-driver"])
    else:
        found = all(shutil.which(command) for command in browser)
    if not found:
        session.log("no chromium or chromedriver: the site's tests skip (apt-get install chromium-driver)")
    pytest(session, "tests/test_site.py")


@nox.session(python=python("3.12"))
def clusters(session: nox.Session) -> None:
    """The Dask and Ray recipes on real local clusters."""
    prepare(session, "-e", ".[clusters]")
    pytest(session, "tests/test_clusters.py", "tests/test_docs.py", "-k", "clusters or processes")


@nox.session(python=python("3.10"))
def lowest(session: nox.Session) -> None:
    """The stacks' tests on the lowest releases the extras allow, on the lowest Python."""
    prepare(session, "-e", ".[dev-lowest]")
    pytest(session, "-m", "not anthropic0", *STACKS, env=FEWER_EXAMPLES)


@nox.session(name="anthropic0-oldest", python=python("3.10"))
def anthropic0_oldest(session: nox.Session) -> None:
    """The oldest anthropic 0.x we take: 0.108 (the first with middleware) on httpx 0.25, under coverage."""
    prepare(session, "-e", ".[dev-anthropic0-oldest]")
    pytest(session, "-m", "anthropic0", *ANTHROPIC0, coverage=True)


@nox.session(python=python("3.13"))
def anthropic0(session: nox.Session) -> None:
    """The newest anthropic 0.x (on httpx), under coverage."""
    prepare(session, "-e", ".[dev-anthropic0]")
    pytest(session, "-m", "anthropic0", *ANTHROPIC0, coverage=True)


@nox.session(python=python("3.13"), default=False)
def coverage(session: nox.Session) -> None:
    """The coverage lanes' data combined: the package must be covered 100%."""
    prepare(session, "coverage[toml]>=7.10")
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")
