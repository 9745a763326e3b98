"""`install()`: every client of the process sends the betas, whoever built it.

Each HTTP stack is patched in one place it goes through per hop, reusing that stack's
integration (see the modules `httpx`, `requests` and `anthropic` beside this one); nothing is
stored on clients, so clients built before and after behave alike, and `uninstall()`
puts every patched attribute back. A stack is patched when the program imports it: an
import hook (a `sys.meta_path` finder) runs the patch right after the module executes,
so `install()` itself loads nothing.
"""

from __future__ import annotations

import os
import sys
from _thread import RLock

from .._core.header import INSTALLED, Rules

TYPE_CHECKING = False  # `typing`, `threading`, `warnings`, `weakref` cost install()'s budget
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType, TracebackType
    from typing import Any, Final

    from typing_extensions import Self

__all__ = [
    *("STARTUP", "Installation", "Wrappers", "default_hosts", "install", "installed", "start_up"),
    "uninstall",
]

DEFAULT_HOST: Final = "api.anthropic.com"


class _Default:
    def __repr__(self) -> str:
        return "<default hosts>"


DEFAULT: Final[Any] = _Default()
"""`install(hosts=...)`'s default: see `default_hosts()`."""


def default_hosts() -> tuple[str, ...]:
    """`api.anthropic.com`, plus the host of `ANTHROPIC_BASE_URL` when that variable is set."""
    hosts = [DEFAULT_HOST]
    base = os.environ.get("ANTHROPIC_BASE_URL", "").strip()
    if base:
        from urllib.parse import urlsplit  # only then: it costs install()'s budget

        try:
            host = urlsplit(base).hostname
        except ValueError:  # a malformed URL: the SDK refuses it itself
            host = None
        if host:
            hosts.append(host)
    return tuple(dict.fromkeys(hosts))


# The modules whose import patches something, and the patch module for each: each is
# imported only once its stack is, as the patch modules import their stack.
_PATCHERS: Final = {
    "requests": "beta_middleware._install.requests",
    "httpx": "beta_middleware._install.httpx",
    "httpx2": "beta_middleware._install.httpx",
    "anthropic": "beta_middleware._install.anthropic",
}
_THREAD_PATCHERS: Final = {
    "threading": "beta_middleware._install.threads",
    "concurrent.futures.thread": "beta_middleware._install.threads",
}
# Every installation: a process multiprocessing starts (a pool's worker) has no betas of its own.
_FORK_PATCHERS: Final = {"multiprocessing.util": "beta_middleware._install.processes"}
# threads= or processes=: the pools' own threads start with none; processes=: jobs carry them.
_POOL_PATCHERS: Final = {
    "concurrent.futures.process": "beta_middleware._install.processes",
    "multiprocessing.pool": "beta_middleware._install.processes",
}

_ABSENT: Final = object()


class Wrappers:
    """One wrapper per wrapped object (a transport, an adapter), made on first use.

    The wrapper refers to the object weakly and the cache holds it weakly, so it keeps
    no client's transport or adapter alive; the last pair is also kept in one slot, as a
    client mostly uses one.
    """

    def __init__(self, make: Callable[[Any], Any]) -> None:
        import weakref  # loaded by then: the stack being patched imports it

        self._make = make
        self._ref, self._proxy = weakref.ref, weakref.proxy
        self._wrapped: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self.last: tuple[Callable[[], Any], Any] = (type(None), None)  # empty: no object is None
        """(a weak reference to the object wrapped last, its wrapper): callers look here first."""

    def __call__(self, inner: Any) -> Any:
        """The wrapper of `inner`. Callers first look at `last` themselves: a hop's one call less."""
        try:
            found = self._wrapped[inner]
        except KeyError:
            found = self._wrapped[inner] = self._make(self._proxy(inner))
        except TypeError:  # an object that takes no weak reference: a wrapper per call
            return self._make(inner)
        self.last = (self._ref(inner), found)  # one store: safe across threads
        return found


class Installation:
    """The process-wide installation made by `install()`.

    `uninstall()` undoes it; usable as a context manager (`with install(...):`).
    Its settings: `betas`, `hosts` (None: every host), `drop_rejected`, `threads`,
    `processes`.
    """

    def __init__(
        self,
        betas: tuple[str, ...],
        hosts: tuple[str, ...] | None,
        drop_rejected: bool,
        threads: bool,
        processes: bool = False,
    ) -> None:
        self.betas = betas
        self.hosts = hosts
        self.drop_rejected = drop_rejected
        self.threads = threads
        self.processes = processes
        self.rules = Rules(betas, hosts, drop_rejected)
        """The HTTP stacks' rules: `hosts=` applies."""
        self.sdk_rules = Rules(betas, None, drop_rejected)
        """The SDK's rules: an SDK client always gets betas (its base URL is the choice)."""
        import weakref  # here: `install()` may run at start-up, where it costs little then

        self.rules.owner = self.sdk_rules.owner = weakref.ref(self)  # logs name the installation
        self._patches: list[tuple[Any, str, object]] = []
        self._undo: list[Callable[[], object]] = []
        self._patched: set[str] = set()
        self._watched = dict(
            _PATCHERS,
            **_FORK_PATCHERS,
            **(_THREAD_PATCHERS if threads else {}),
            **(_POOL_PATCHERS if threads or processes else {}),
        )
        self._finder = _Finder(self)
        self.active = False
        self.imported_before: frozenset[str] = frozenset()
        """The watched modules the program had imported when `install()` was called."""
        self.origins: list[str] = []
        """Where each call that made or joined this installation came from, first first."""
        self.asked: list[tuple[Any, ...]] = []
        """The settings each of those calls asked for (the installation's own are their union)."""

    def _settings(self) -> tuple[tuple[str, ...], tuple[str, ...] | None, bool, bool, bool]:
        return self.betas, self.hosts, self.drop_rejected, self.threads, self.processes

    def __repr__(self) -> str:
        hosts = None if self.hosts is None else list(self.hosts)
        return (
            f"Installation(betas={list(self.betas)!r}, hosts={hosts!r}, "
            f"drop_rejected={self.drop_rejected!r}, threads={self.threads!r}, "
            f"processes={self.processes!r})"
        )

    def patch(self, owner: Any, name: str, value: object) -> None:
        """Set `owner.name` to `value`, remembering what `owner` itself held (for `uninstall`)."""
        self._patches.append((owner, name, owner.__dict__.get(name, _ABSENT)))
        setattr(owner, name, value)

    def on_uninstall(self, undo: Callable[[], object]) -> None:
        """Have `uninstall()` call `undo`, after it has put back every patched attribute."""
        self._undo.append(undo)

    def _patch_module(self, name: str) -> None:
        """Patch what importing `name` (now in `sys.modules`) brought, once."""
        if name in self._patched or not self.active:
            return
        self._patched.add(name)
        try:
            patcher = __import__(self._watched[name], fromlist=["patch"])
            patcher.patch(self, sys.modules[name])
        except Exception as exc:  # never break the program's own import
            import warnings

            warnings.warn(
                f"beta_middleware.install() could not patch {name!r}: {exc!r}; its requests get no betas",
                RuntimeWarning,
                stacklevel=2,
            )

    def _start(self) -> None:
        self.active = True
        INSTALLED.append(self)  # an SDK client's requests may now meet an HTTP layer of ours
        self.imported_before = frozenset(name for name in self._watched if name in sys.modules)
        sys.meta_path.insert(0, self._finder)
        for name in self._watched:
            if name in sys.modules:
                self._patch_module(name)

    def _join(self, wanted: tuple[Any, ...], origin: str) -> None:
        """Take in the settings of another call: the union of names and hosts, either's flags.

        The stacks' patches hold the rules they were made with: they are all made anew.
        """
        betas, hosts, *flags = self._settings()
        more_betas, more_hosts, *more_flags = wanted
        union: tuple[Any, ...] = (
            tuple(dict.fromkeys((*betas, *more_betas))),
            None if hosts is None or more_hosts is None else tuple(dict.fromkeys((*hosts, *more_hosts))),
            *(a or b for a, b in zip(flags, more_flags, strict=True)),
        )
        origins, asked = self.origins, self.asked
        self._stop()
        self.__init__(*union)  # type: ignore[misc]  # every setting and what follows from it, anew
        self.origins, self.asked = [*origins, origin], [*asked, wanted]
        self._start()

    def _stop(self) -> None:
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for owner, name, original in reversed(self._patches):
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._patches.clear()
        self._patched.clear()
        undo, self._undo = self._undo, []
        for step in undo:
            step()
        INSTALLED.remove(self)

    def uninstall(self) -> None:
        """Undo this installation: every patched attribute gets back the very object it held.

        An installation that a program's `install()` joined at start-up (under `run`) is
        one: this undoes all of it.
        """
        global _installed
        with _lock:
            if not self.active:
                return
            self.active = False
            self._stop()
            _installed = None  # only the active installation is active

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()


class _PatchingLoader:
    """Runs a module with its own loader, then patches it."""

    def __init__(self, loader: Any, installation: Installation, name: str) -> None:
        self.loader = loader
        self.installation = installation
        self.name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create: Callable[[ModuleSpec], ModuleType | None] | None
        create = getattr(self.loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: ModuleType) -> None:
        # the module keeps its own loader (importlib.resources and friends read it)
        module.__spec__.loader = self.loader  # type: ignore[union-attr]  # the import system set it
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        with _lock:
            self.installation._patch_module(self.name)


class _Finder:
    """Finds nothing itself: hands the stacks' modules to a loader that patches them."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        installation = self.installation
        if fullname not in installation._watched or fullname in installation._patched:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _Finder):
                continue
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = None if find is None else find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # a namespace package or an old-style loader: left to import as it is
        spec.loader = _PatchingLoader(spec.loader, installation, fullname)  # type: ignore[assignment]
        return spec


_lock = RLock()
_installed: Installation | None = None

STARTUP: Final = (
    "at start-up from the BETA_MIDDLEWARE_* variables (as python -m beta_middleware run sets them)"
)
"""The origin of the installation the start-up hook makes (see `start_up`)."""
_origin: str | None = None  # while `start_up` runs: STARTUP


def _caller() -> str:
    """Where the program called `install()` (the caller of its caller), as `file:line`."""
    frame = sys._getframe(2)
    return f"by install() at {frame.f_code.co_filename}:{frame.f_lineno}"


def start_up(**settings: Any) -> Installation:
    """`install(**settings)` as the start-up hook of `run` makes it: one the program's own call joins."""
    global _origin
    with _lock:
        _origin = STARTUP
        try:
            return install(**settings)
        finally:
            _origin = None


def install(
    *,
    betas: str | Iterable[str] = (),
    hosts: str | Iterable[str] | None = DEFAULT,
    drop_rejected: bool = False,
    threads: bool = False,
    processes: bool = False,
) -> Installation:
    """Make every client of the process send the active betas, whoever built it.

    From then on every anthropic SDK client sends as if it had a `BetaMiddleware`, and
    every httpx / httpx2 `Client` and `AsyncClient` and every requests `Session` as if
    wrapped by that stack's integration - clients built before the call included.

    Args:
        betas: names every request gets (a name or an iterable of names).
        hosts: the host names whose requests get betas over the HTTP stacks (`None`:
            every host). Default: `api.anthropic.com`, plus the host of
            `ANTHROPIC_BASE_URL` when set. SDK clients always get betas.
        drop_rejected: as on the integrations: resend once without rejected names.
        threads: a `threading.Thread` runs with the betas active where it was
            created, a `ThreadPoolExecutor` job with those active at its submission.
        processes: a job given to a `ProcessPoolExecutor` or a `multiprocessing` pool
            runs with the betas active at its submission, under every start method.

    Under every installation, a process that `multiprocessing` starts (a pool's worker)
    begins with no betas of its own.

    A stack is patched when it is imported (at once if it already is): this loads no
    HTTP library. Calling it again with the same settings returns the same
    `Installation`; other settings raise `ValueError`, saying where the first call was.
    Under `python -m beta_middleware run` (or its `BETA_MIDDLEWARE_*` variables) the
    program's own call joins the start-up installation instead: one installation, with
    the names and hosts of both and the flags of either. Undo with `uninstall()`.
    """
    global _installed
    if hosts is DEFAULT:
        hosts = default_hosts()
    rules = Rules(betas, hosts, drop_rejected)  # validates before anything is patched
    spec = None if rules.hosts is None else rules.hosts.spec
    if not isinstance(threads, bool):
        raise TypeError(f"threads must be a bool, got {threads!r}")
    if not isinstance(processes, bool):
        raise TypeError(f"processes must be a bool, got {processes!r}")
    with _lock:
        current = _installed
        wanted = (rules.fixed.names, spec, rules.drop_rejected, threads, processes)
        origin = _origin or _caller()
        if current is not None:
            if current._settings() == wanted or wanted in current.asked:
                return current
            # The start-up installation and the program's own call, once each: joined.
            if len(current.origins) == 1 and (current.origins[0] == STARTUP) != (origin == STARTUP):
                current._join(wanted, origin)
                return current
            made = " and joined ".join(current.origins)
            raise ValueError(
                f"beta_middleware is already installed as {current!r}, made {made}; "
                f"refusing to install {Installation(*wanted)!r} too, {origin}: call install() once, with "
                "every setting, or uninstall() the first"
            )
        installation = Installation(*wanted)
        installation.origins, installation.asked = [origin], [wanted]
        _installed = installation
        installation._start()
        return installation


def uninstall() -> None:
    """Undo the process-wide installation, if any (see `Installation.uninstall`)."""
    installation = _installed
    if installation is not None:
        installation.uninstall()


def installed() -> Installation | None:
    """The active installation, or None."""
    return _installed
