"""`python -m beta_middleware run [OPTIONS] -- COMMAND`: `install()` in an unmodified program.

`run` checks the settings, puts the start-up hook (`_bootstrap/sitecustomize.py`) first
on `PYTHONPATH`, and replaces itself with the command (`exec`): the program keeps the
process, so its exit status, signals and standard streams are its own. Every Python
process started with that environment, the command's children included, runs the hook,
which calls `start()` when the first HTTP stack is imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from ._errors import UnknownBetaWarning
from ._header import HostMatcher
from ._names import parse_names

__all__ = [
    *("BETAS", "BOOTSTRAP", "DROP_REJECTED", "HOSTS", "LOG", "PROCESSES", "THREADS", "Settings"),
    *("log_level", "main", "settings", "start"),
]

BETAS = "BETA_MIDDLEWARE_BETAS"
HOSTS = "BETA_MIDDLEWARE_HOSTS"
DROP_REJECTED = "BETA_MIDDLEWARE_DROP_REJECTED"
THREADS = "BETA_MIDDLEWARE_THREADS"
LOG = "BETA_MIDDLEWARE_LOG"
"""`debug`: the start-up hook shows the `beta_middleware` logger's DEBUG lines on stderr."""
PROCESSES = "BETA_MIDDLEWARE_PROCESSES"
BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")
"""The directory whose `sitecustomize.py` is the start-up hook."""

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("", "0", "false", "no", "off"))
_PROG = "beta_middleware run"


@dataclass(frozen=True)
class Settings:
    """What `install()` gets: `hosts` is `()` for its default, `None` for every host."""

    betas: tuple[str, ...] = ()
    hosts: tuple[str, ...] | None = ()
    drop_rejected: bool = False
    threads: bool = False
    processes: bool = False

    def install_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `install()`, leaving out `hosts` when it is the default."""
        kwargs: dict[str, Any] = {"betas": self.betas, "drop_rejected": self.drop_rejected}
        kwargs["threads"] = self.threads
        kwargs["processes"] = self.processes
        if self.hosts != ():
            kwargs["hosts"] = self.hosts
        return kwargs


def _items(value: str) -> list[str]:
    # comma separated, blanks dropped: like the header itself
    return [item.strip() for item in value.split(",") if item.strip()]


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "")
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"{name}={value!r}: expected 1 (on) or 0 (off)")


def log_level(environ: Mapping[str, str]) -> str | None:
    """`"debug"` when `BETA_MIDDLEWARE_LOG` asks for the DEBUG lines, None when it is off or unset.

    The start-up hook reads the variable itself (it imports nothing of the package), by
    the same rule: `debug` in any case, or off (`0`, `off`, empty...). Anything else
    raises `ValueError`.
    """
    value = environ.get(LOG, "")
    if value.strip().lower() == "debug":
        return "debug"
    if value.strip().lower() in _FALSE:
        return None
    raise ValueError(f"{LOG}={value!r}: expected debug (or 0: off)")


def settings(environ: Mapping[str, str], labels: Mapping[str, str] | None = None) -> Settings:
    """Read and check the `BETA_MIDDLEWARE_*` variables of `environ`.

    Raises `ValueError` (an `InvalidBetaError` for a name) naming the variable and the
    bad value with `repr` (or the option `labels` gives for that variable).
    `BETA_MIDDLEWARE_HOSTS=*` means every host.
    """
    labels = labels or {}
    try:
        names = parse_names(_items(environ.get(BETAS, "")))
    except ValueError as exc:
        raise type(exc)(f"{labels.get(BETAS, BETAS)}: {exc}") from None
    hosts: tuple[str, ...] | None = tuple(_items(environ.get(HOSTS, "")))
    if hosts == ("*",):
        hosts = None
    elif hosts:
        try:
            HostMatcher(hosts)
        except ValueError as exc:
            raise ValueError(f"{labels.get(HOSTS, HOSTS)}: {exc}") from None
    return Settings(
        names, hosts, _flag(environ, DROP_REJECTED), _flag(environ, THREADS), _flag(environ, PROCESSES)
    )


def start() -> None:
    """Apply `install()` with the settings of `os.environ` (the start-up hook calls it).

    Never raises: bad settings (possible only when the variables were set or changed
    without `run` checking them) get one line on stderr, and the program runs without
    the installation. Typo warnings were shown by `run`; they are not repeated in every
    process.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownBetaWarning)
            found = settings(os.environ)
            from ._install import start_up

            start_up(**found.install_kwargs())  # the program's own install() joins it
    except Exception as exc:
        sys.stderr.write(
            f"{_PROG}: {type(exc).__name__}: {exc}; this process runs without the installation\n"
        )


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
    from ._cli import fit

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
        print(f"{_PROG}: no command after --: give one, e.g. -- python app.py", file=err)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownBetaWarning)
        try:
            found = settings(env, labels)
            log_level(env)
        except ValueError as exc:
            print(fit(f"{_PROG}: {exc}"), file=err)
            return 2
    for warning in caught:
        print(fit(f"{_PROG}: warning: {warning.message}"), file=err)
    if not found.betas:  # an unmodified program then sends none: say so rather than nothing
        print(
            fit(
                f"{_PROG}: no beta names given (--betas NAME... or {BETAS}): requests carry only what "
                "the program's own betas(...) scopes add"
            ),
            file=err,
        )
    env["PYTHONPATH"] = _pythonpath(env)
    program = shutil.which(command[0], path=env.get("PATH", os.defpath))
    if program is None:
        if os.path.sep in command[0] and os.path.exists(command[0]):
            print(fit(f"{_PROG}: {command[0]!r} is not an executable file"), file=err)
            return 126
        print(fit(f"{_PROG}: command not found: {command[0]!r}"), file=err)
        return 127
    err.flush()
    sys.stdout.flush()
    if sys.platform == "win32":  # pragma: no cover - no exec there: wait, then pass the status on
        return subprocess.call([program, *command[1:]], env=env)
    try:
        os.execve(program, list(command), env)
    except OSError as exc:  # e.g. not a valid executable format
        print(fit(f"{_PROG}: cannot run {command[0]!r}: {exc.strerror}"), file=err)
        return 126
    raise AssertionError("unreachable")  # pragma: no cover - execve returns only by raising
