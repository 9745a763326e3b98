"""Start-up hook of `python -m beta_middleware run`, on `PYTHONPATH` of the program it runs.

Python imports `sitecustomize` at start-up. This one imports almost nothing: it waits for
the first import of an HTTP stack (anthropic, httpx, httpx2, requests) or of
beta_middleware itself, and once that module has loaded calls `beta_middleware._install.startup.start()`,
which applies `install()` with the settings of the `BETA_MIDDLEWARE_*` variables (and
patches what is loaded then and later). A program that never loads a stack pays for the
hook only. Then the next `sitecustomize` on `sys.path` (the user's or the distribution's),
which this one hides by its name, runs as it would have.

With `BETA_MIDDLEWARE_LOG=debug` (`run --verbose`) it also gives the `beta_middleware`
logger a handler on stderr at DEBUG, at once: the lines of a request sent before any
stack is imported, or by a program that configures no logging, are shown too.

Nothing here may stop the program: a Python without beta_middleware, or bad settings, get
one line on stderr and the program runs without the installation.
"""

# Kept to syntax and modules every Python 3 has: a program under `run` may start any
# Python, whatever its version, with this directory on its path.
import os
import sys

TYPE_CHECKING = False  # no typing import at start-up (mypy reads the name as typing's)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

_TRIGGERS = frozenset(("anthropic", "httpx", "httpx2", "requests", "beta_middleware"))
_HERE = os.path.dirname(os.path.abspath(__file__))
_armed = True


_LOG = "BETA_MIDDLEWARE_LOG"
_OFF = ("", "0", "false", "no", "off")  # as beta_middleware._install.startup reads flags


def _log() -> None:
    """`BETA_MIDDLEWARE_LOG=debug`: the `beta_middleware` logger's records from DEBUG up, on stderr."""
    value = os.environ.get(_LOG, "")
    if value.strip().lower() in _OFF:
        return
    if value.strip().lower() != "debug":  # `run` checks it: set by hand, or changed since
        sys.stderr.write(f"beta_middleware run: {_LOG}={value!r}: expected debug (or 0: off); no log lines\n")
        return
    import logging

    class Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to the `sys.stderr` of the moment (a test runner may swap it), as logging's last resort."""

        def __init__(self) -> None:
            logging.Handler.__init__(self)

        @property
        def stream(self) -> "Any":
            return sys.stderr

    handler = Stderr()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    logger = logging.getLogger("beta_middleware")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _activate() -> None:
    try:
        from beta_middleware._install.startup import start
    except Exception as exc:  # another Python, without the package (or an old release of it)
        sys.stderr.write(
            f"beta_middleware run: {sys.executable} cannot import beta_middleware "
            f"({type(exc).__name__}: {exc}); this process runs without betas\n"
        )
        return
    start()  # reports bad settings itself, never raises


class _Loader:
    """The found loader, with `_activate()` after the module has run (then it is forgotten)."""

    def __init__(self, inner: "Loader") -> None:
        self._inner = inner

    def create_module(self, spec: "ModuleSpec") -> "ModuleType | None":
        return self._inner.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        global _armed
        # The module sees its real loader (importlib.resources, inspect and reload use it).
        module.__loader__ = self._inner
        if module.__spec__ is not None:  # pragma: no branch - the import system sets it
            module.__spec__.loader = self._inner
        try:
            self._inner.exec_module(module)
        except BaseException:
            _armed = True  # it did not load: the next import of a stack tries again
            raise
        try:  # noqa: SIM105 - contextlib is not loaded at start-up
            sys.meta_path.remove(_Finder)
        except ValueError:  # pragma: no cover - removed by the program
            pass
        _activate()


class _Finder:
    """A `sys.meta_path` finder that only watches: the other finders find the module."""

    @classmethod
    def find_spec(
        cls, name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        global _armed
        if not _armed or name not in _TRIGGERS:
            return None
        _armed = False  # also keeps the search below from coming back here
        spec: ModuleSpec | None = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is not cls and find is not None:
                spec = find(name, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None:
            _armed = True
            return spec
        spec.loader = _Loader(spec.loader)  # type: ignore[assignment]  # a loader by its methods
        return spec


def _next_sitecustomize() -> None:
    """Run the `sitecustomize` this module hides, if there is one."""
    # The path finder is on sys.meta_path already: no import of importlib.machinery.
    path_finder: Any = next((f for f in sys.meta_path if getattr(f, "__name__", "") == "PathFinder"), None)
    if path_finder is None:  # pragma: no cover - a program's own import system
        import importlib.machinery

        path_finder = importlib.machinery.PathFinder
    path = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    spec = path_finder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    import importlib.util

    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_log()
if any(name in sys.modules for name in _TRIGGERS):  # pragma: no cover - loaded by a .pth file
    _armed = False
    _activate()
else:
    sys.meta_path.insert(0, _Finder)
_next_sitecustomize()
