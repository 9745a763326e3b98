"""`python -m beta_middleware run [OPTIONS] -- COMMAND`: `install()` in an unmodified program.

`run` checks the settings (`beta_middleware._install.startup`), puts the start-up hook
first on `PYTHONPATH`, and replaces itself with the command (`exec`): the program keeps
the process, so its exit status, signals and standard streams are its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TextIO

from .._core.errors import UnknownBetaWarning
from .._install.startup import (
    BETAS,
    BOOTSTRAP,
    DROP_REJECTED,
    HOSTS,
    LOG,
    PROCESSES,
    PROG,
    THREADS,
    log_level,
    settings,
)
from .text import fit

__all__ = ["main"]


def _pythonpath(environ: Mapping[str, str]) -> str:
    entries = [e for e in environ.get("PYTHONPATH", "").split(os.pathsep) if e and e != BOOTSTRAP]
    return os.pathsep.join([BOOTSTRAP, *entries])


def main(
    command: Sequence[str],
    *,
    betas: Sequence[str] | None = None,
    hosts: Sequence[str] | None = None,
    drop_rejected: bool = False,
    threads: bool = False,
    processes: bool = False,
    verbose: bool = False,
    environ: MutableMapping[str, str] | None = None,
    err: TextIO | None = None,
) -> int:
    """Check the settings, then replace this process with `command` under the hook.

    Options override their variable; what they leave out comes from the environment.
    `verbose` sets `BETA_MIDDLEWARE_LOG=debug`. With no names at all, a note on stderr
    says that only the program's own scopes will add any. Returns only on an error: 2
    for bad settings or no command, 127 for a command not found, 126 for one that
    cannot be run - as shells do.
    """
    err = sys.stderr if err is None else err
    env = dict(os.environ if environ is None else environ)
    labels = {}
    if betas is not None:
        env[BETAS] = ",".join(betas)
        labels[BETAS] = "--betas"
    if hosts is not None:
        env[HOSTS] = ",".join(hosts)
        labels[HOSTS] = "--hosts"
    if drop_rejected:
        env[DROP_REJECTED] = "1"
    if threads:
        env[THREADS] = "1"
    if processes:
        env[PROCESSES] = "1"
    if verbose:
        env[LOG] = "debug"
    if not command:
        print(f"{PROG}: no command after --: give one, e.g. -- python app.py", file=err)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownBetaWarning)
        try:
            found = settings(env, labels)
            log_level(env)
        except ValueError as exc:
            print(fit(f"{PROG}: {exc}"), file=err)
            return 2
    for warning in caught:
        print(fit(f"{PROG}: warning: {warning.message}"), file=err)
    if not found.betas:  # an unmodified program then sends none: say so rather than nothing
        print(
            fit(
                f"{PROG}: no beta names given (--betas NAME... or {BETAS}): requests carry only what "
                "the program's own betas(...) scopes add"
            ),
            file=err,
        )
    env["PYTHONPATH"] = _pythonpath(env)
    program = shutil.which(command[0], path=env.get("PATH", os.defpath))
    if program is None:
        if os.path.sep in command[0] and os.path.exists(command[0]):
            print(fit(f"{PROG}: {command[0]!r} is not an executable file"), file=err)
            return 126
        print(fit(f"{PROG}: command not found: {command[0]!r}"), file=err)
        return 127
    err.flush()
    sys.stdout.flush()
    if sys.platform == "win32":  # pragma: no cover - no exec there: wait, then pass the status on
        return subprocess.call([program, *command[1:]], env=env)
    try:
        os.execve(program, list(command), env)
    except OSError as exc:  # e.g. not a valid executable format
        print(fit(f"{PROG}: cannot run {command[0]!r}: {exc.strerror}"), file=err)
        return 126
    raise AssertionError("unreachable")  # pragma: no cover - execve returns only by raising
