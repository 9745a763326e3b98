"""Beta scopes: which names are active, held in a `contextvars.ContextVar`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._names import NameSet, parse_names

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, Self

    P = ParamSpec("P")

__all__ = ["BetaScope", "betas", "current_betas"]

R = TypeVar("R")


class _Frame(NameSet):
    """One entered scope: the names active while it is the innermost one.

    Frames are immutable and linked to the frame that was active before them, so a
    context's chain of frames is its stack of entered scopes. Nothing is shared
    between contexts but immutable data, which is what makes scopes thread- and
    task-safe. A frame is the active names themselves, so that a request reads them
    with a single `ContextVar.get`.
    """

    __slots__ = ("parent", "scope")

    def __init__(self, scope: BetaScope | None, parent: _Frame | None, names: tuple[str, ...]) -> None:
        super().__init__(names)
        self.scope = scope
        self.parent = parent


_ROOT = _Frame(None, None, ())
_current: ContextVar[_Frame] = ContextVar("beta_middleware_betas", default=_ROOT)
# The innermost frame's `joined`, set together with `_current`: a request with nothing
# to merge then reads the header value with one C-level call and no Python frame.
_joined: ContextVar[str] = ContextVar("beta_middleware_joined", default="")


def _activate(frame: _Frame) -> None:
    _current.set(frame)
    _joined.set(frame.joined)


def current_betas() -> tuple[str, ...]:
    """Return the beta names active in this context, in the order they will be sent."""
    return _current.get().names


def _push(scope: BetaScope, parent: _Frame) -> _Frame:
    names = scope._names
    if scope._replace:
        return _Frame(scope, parent, names.names)
    new = tuple(name for name in names.names if name not in parent.members)
    return _Frame(scope, parent, parent.names + new if new else parent.names)


class BetaScope:
    """A set of beta names to activate; see `betas()`.

    Usable as `with`, `async with` and as a decorator. One object may be entered any
    number of times, nested, and from many threads or tasks at once: it holds only
    its names, and each entry is recorded in the context that made it.
    """

    __slots__ = ("_names", "_replace")

    def __init__(self, names: tuple[str, ...], replace: bool) -> None:
        self._names = NameSet(names)
        self._replace = replace

    @property
    def names(self) -> tuple[str, ...]:
        """The names this scope adds (or, with `replace=True`, makes the only ones)."""
        return self._names.names

    @property
    def replace(self) -> bool:
        """Whether entering this scope replaces the active names instead of adding to them."""
        return self._replace

    def __repr__(self) -> str:
        args = ", ".join(map(repr, self.names))
        return f"betas({args}{', replace=True' if self._replace else ''})"

    def __enter__(self) -> Self:
        _activate(_push(self, _current.get()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Remove this scope's innermost entry from the current context. Unlike
        # `ContextVar.reset(token)` this never raises: a scope left out of order takes
        # only its own names away, and one left from a context that never entered it
        # (a generator closed elsewhere) changes nothing there.
        top = _current.get()
        above: list[_Frame] = []
        frame = top
        while frame.scope is not self:
            if frame.parent is None:
                return
            above.append(frame)
            frame = frame.parent
        restored = frame.parent
        assert restored is not None  # only the root frame has no parent
        for entry in reversed(above):
            assert entry.scope is not None
            restored = _push(entry.scope, restored)
        _activate(restored)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate `func` so that each call runs inside this scope.

        Works on `def` and `async def` functions (for the latter the scope is entered
        when the coroutine runs, not when it is created). Generator functions are
        refused: a scope held across `yield` would leak into the caller between items.
        """
        if not callable(func):
            raise TypeError(f"betas(...) decorates a function, not {func!r}")
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"betas(...) cannot decorate the generator function {func!r}: "
                "use `with betas(...):` inside its body around the requests instead"
            )
        if inspect.iscoroutinefunction(func):
            coroutine_function = cast(Callable[..., Awaitable[Any]], func)

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await coroutine_function(*args, **kwargs)

            return cast("Callable[P, R]", run_async)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return func(*args, **kwargs)

        return run


def betas(*names: str | Iterable[str], replace: bool = False) -> BetaScope:
    """Make a scope that activates beta `names` for the requests made inside it.

    Each positional argument is a name or an iterable of names. Scopes nest: the
    active names are the outer scope's followed by the inner scope's new ones. With
    `replace=True` the scope's names replace everything active (and `betas(replace=True)`
    turns context betas off inside it).

    Names are checked here: a name that is not a non-empty str of HTTP token
    characters raises `InvalidBetaError` and nothing is activated.

    Example:
        >>> with betas("files-api-2025-04-14"):
        ...     current_betas()
        ('files-api-2025-04-14',)
    """
    return BetaScope(parse_names(names), bool(replace))
