"""`install()` at interpreter start-up: the `BETA_MIDDLEWARE_*` settings, and the hook that applies them.

`python -m beta_middleware run [OPTIONS] -- COMMAND` (`beta_middleware._cli.run`)
checks the settings, puts the start-up hook (`_bootstrap/sitecustomize.py`, in the
directory `BOOTSTRAP`) first on `PYTHONPATH`, and replaces itself with the command.
Every Python process started with that environment, the command's children included,
runs the hook, which calls `start()` when the first HTTP stack is imported.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._core.errors import UnknownBetaWarning
from .._core.header import HostMatcher
from .._core.known import warn_unknown
from .._core.names import parse_names

__all__ = [
    *("BETAS", "BOOTSTRAP", "DROP_REJECTED", "HOSTS", "LOG", "PROCESSES", "PROG", "THREADS", "Settings"),
    *("log_level", "settings", "start"),
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
PROG = "beta_middleware run"
"""How the lines of `run` and of the start-up hook begin."""


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
    warn_unknown(names)
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
            from .installation import start_up

            start_up(**found.install_kwargs())  # the program's own install() joins it
    except Exception as exc:
        sys.stderr.write(f"{PROG}: {type(exc).__name__}: {exc}; this process runs without the installation\n")
