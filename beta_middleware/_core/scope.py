"""Beta scopes: which names are active, held in one `contextvars.ContextVar`."""

from __future__ import annotations

import functools
import sys
from contextvars import ContextVar

from .errors import InvalidBetaError
from .known import warn_unknown
from .names import NameSet, parse_names

TYPE_CHECKING = False  # `typing` is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from types import FrameType, TracebackType
    from typing import Any, TypeVar

    from typing_extensions import ParamSpec, Self

    P = ParamSpec("P")
    R = TypeVar("R")

__all__ = ["ROOT", "BetaScope", "betas", "current", "current_betas"]


def _caller() -> FrameType | None:
    """The Python frame that called the method calling this; None when C code called it."""
    try:
        return sys._getframe(2)
    # Only at the bottom of a thread started by `_thread`, which coverage does not trace;
    # tests/test_compat.py starts such threads and checks the scope.
    except ValueError:  # pragma: no cover - called from C at the bottom of a thread's stack
        return None


class _Entry:
    """The token of one entry of a scope: an identity, holding nothing."""

    __slots__ = ()


# Code flags (see `inspect`), read directly: importing `inspect` costs start-up.
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


class _Frame(NameSet):
    """One entered scope: the names active while it is the innermost one.

    Frames are immutable and linked to the frame that was active before them, so a
    context's chain of frames is its stack of entered scopes. Nothing is shared
    between contexts but immutable data, which is what makes scopes thread- and
    task-safe. A frame is the active names themselves, so that a request reads them
    with a single `ContextVar.get`.

    `entry` is the entry's token: a plain object that the scope also files under the
    Python frame that entered it (`BetaScope._open`), for as long as the entry is open.
    So an exit pairs with its own entry while nothing here holds a Python frame: a
    context, a task, a cache or a carried callable that keeps a `_Frame` after the
    `with` has left keeps no caller's locals alive.
    """

    __slots__ = ("entry", "parent", "scope")

    def __init__(
        self,
        scope: BetaScope | None,
        entry: _Entry | None,
        parent: _Frame | None,
        names: tuple[str, ...],
    ) -> None:
        super().__init__(names)
        self.scope = scope
        self.entry = entry
        self.parent = parent


ROOT = _Frame(None, None, None, ())
"""The frame of no scope: what a context holds before any scope is entered in it."""
# The only state: one context variable, written once per entry and once per exit, so
# that an exception raised asynchronously (a signal handler) between two bytecodes can
# never leave what is sent out of step with `current_betas()`.
current: ContextVar[_Frame] = ContextVar("beta_middleware_betas", default=ROOT)
"""The innermost entered scope's frame: `current.get().names` are the active names.

The header rules read it per request; `carry` and the installation's pool patches set
it to `ROOT` around work that must start with no betas of its own."""
_get = current.get


def current_betas() -> tuple[str, ...]:
    """Return the beta names active in this context, in the order they will be sent."""
    return _get().names


def _push(scope: BetaScope, entry: _Entry | None, parent: _Frame) -> _Frame:
    names = scope._names
    if scope._replace:
        return _Frame(scope, entry, parent, names.names)
    new = tuple(name for name in names.names if name not in parent.members)
    return _Frame(scope, entry, parent, parent.names + new if new else parent.names)


def _entry(top: _Frame, scope: BetaScope, where: FrameType | None) -> _Frame | None:
    """The entry of `scope` that an exit from the Python frame `where` closes, or None."""
    open_ = scope._open
    mine = open_.get(where)
    if mine:
        frame = top
        while frame.parent is not None:  # the root is no entry
            if frame.scope is scope and frame.entry in mine:
                return frame
            frame = frame.parent
        # `where` has an entry of the scope open, not here: it was made in another
        # context (a generator entered there, closed here). Nothing here is this exit's.
        return None
    # No entry made by `where`: it was made by another Python frame (`ExitStack.enter_context`,
    # a fixture's set-up): the innermost entry of the scope whose frame is not running
    # below this exit - a running one is a `with` still open in code that called the
    # exit, which leaves it itself.
    running: set[_Entry | None] = set()
    caller: FrameType | None = where
    while caller is not None:
        running.update(open_.get(caller, ()))
        caller = caller.f_back
    frame = top
    while frame.parent is not None:
        if frame.scope is scope and frame.entry not in running:
            return frame
        frame = frame.parent
    return None


def _closed(scope: BetaScope, where: FrameType | None, entry: _Entry | None) -> None:
    """Note that `entry`, made by `where` (None: whichever frame made it), was left."""
    open_ = scope._open
    if where is None or entry not in open_.get(where, ()):
        where = next((frame for frame, entries in open_.items() if entry in entries), where)
    entries = open_.get(where)
    if not entries:
        return  # an interrupt came between an entry's two writes
    if entry in entries:
        entries.remove(entry)
    else:
        entries.pop()  # made by `where` in another context: its innermost open one
    if not entries:
        del open_[where]


def _leave(scope: BetaScope, where: FrameType | None) -> None:
    top = _get()
    mine = scope._open.get(where)
    if mine and top.scope is scope and top.entry is mine[-1]:
        entry: _Frame | None = top  # the innermost entry, left by the frame that made it
    else:
        entry = _entry(top, scope, where)
    if entry is None:
        if mine:
            _closed(scope, where, None)  # left in the context that entered it
        return
    _closed(scope, where if mine and entry.entry in mine else None, entry.entry)
    above: list[_Frame] = []
    frame = top
    while frame is not entry:
        above.append(frame)
        frame = frame.parent  # type: ignore[assignment]  # `entry` is in the chain
    restored = entry.parent
    assert restored is not None  # only the root frame has no parent
    for later in reversed(above):
        assert later.scope is not None
        restored = _push(later.scope, later.entry, restored)
    current.set(restored)


def _flags(func: object) -> int:
    """The code flags of `func`, seen through methods and `functools.partial` (0: none)."""
    while True:
        if isinstance(func, functools.partial):
            func = func.func
        elif hasattr(func, "__func__"):
            func = func.__func__
        else:
            code = getattr(func, "__code__", None)
            flags = getattr(code, "co_flags", 0)
            return flags if isinstance(flags, int) else 0


def _is_awaitable(value: object) -> bool:
    """Whether `value` can be awaited (what `inspect.isawaitable` tells)."""
    if hasattr(type(value), "__await__"):
        return True
    code = getattr(value, "gi_code", None)  # a generator-based coroutine
    return bool(getattr(code, "co_flags", 0) & 0x100)  # CO_ITERABLE_COROUTINE


class BetaScope:
    """A set of beta names to activate; see `betas()`.

    Usable as `with`, `async with` and as a decorator. One object may be entered any
    number of times, nested, and from many threads or tasks at once: each entry is
    recorded in the context that made it. The object also files, per Python frame, the
    entries not yet left (in any context), so that an exit can tell an entry made in
    another context by its own frame from one made here by another frame. A Python
    frame is held there only while an entry it made is open.
    """

    __slots__ = ("_names", "_open", "_replace")

    def __init__(self, names: tuple[str, ...], replace: bool) -> None:
        self._names = NameSet(names)
        self._replace = replace
        # Python frame -> the tokens of its entries not left yet, innermost last. Only the
        # frame running a `with` writes its key, so threads never race on one key.
        self._open: dict[FrameType | None, list[_Entry]] = {}

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
        entry = _Entry()
        current.set(_push(self, entry, _get()))  # first: what is sent never waits on the record
        self._open.setdefault(_caller(), []).append(entry)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Remove the entry this exit pairs with (see `_entry`) from the current context.
        # Unlike `ContextVar.reset(token)` this never raises: a scope left out of order
        # takes only its own names away, and one left from a context that never entered
        # it (a generator closed elsewhere) changes nothing there, even when that context
        # has entered the same scope object itself.
        _leave(self, _caller())

    async def __aenter__(self) -> Self:
        entry = _Entry()
        current.set(_push(self, entry, _get()))
        self._open.setdefault(_caller(), []).append(entry)  # the frame awaiting this
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _leave(self, _caller())

    async def _awaiting(self, awaitable: Awaitable[Any]) -> Any:
        with self:
            return await awaitable

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate `func` so that each call runs inside this scope.

        Works on anything callable: for `async def` functions the scope is entered when
        the coroutine runs, not when it is created; a call that returns an awaitable
        otherwise (an object with `async def __call__`, a `def` returning a coroutine)
        gets one that awaits it inside the scope too. Generator functions are refused:
        a scope held across `yield` would leak into the caller between items.
        """
        if not callable(func):
            raise TypeError(f"betas(...) decorates a function, not {func!r}")
        flags = _flags(func)
        if flags & (_CO_GENERATOR | _CO_ASYNC_GENERATOR):
            raise TypeError(
                f"betas(...) cannot decorate the generator function {func!r}: "
                "use `with betas(...):` inside its body around the requests instead"
            )
        if flags & _CO_COROUTINE:
            coroutine_function: Callable[..., Awaitable[Any]] = func  # type: ignore[assignment]

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await coroutine_function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                result = func(*args, **kwargs)
            # An awaitable does its work when awaited, perhaps elsewhere: that is then
            # inside the scope too. A future (an asyncio `Future` or `Task`) runs on its
            # own, in the context it was made in - here, inside the scope: handed back.
            if _is_awaitable(result) and not hasattr(type(result), "_asyncio_future_blocking"):
                return self._awaiting(result)  # type: ignore[arg-type, return-value]
            return result

        return run


def betas(*names: str | Iterable[str], replace: bool = False) -> BetaScope:
    """Make a scope that activates beta `names` for the requests made inside it.

    Each positional argument is a name or an iterable of names. Scopes nest: the
    active names are the outer scope's followed by the inner scope's new ones. With
    `replace=True` the scope's names replace everything active (and `betas(replace=True)`
    turns context betas off inside it).

    Names are checked here: a name that is not a non-empty str of HTTP token
    characters raises `InvalidBetaError` and nothing is activated; `replace` that is
    not a bool raises `TypeError`.

    Example:
        >>> with betas("files-api-2025-04-14"):
        ...     current_betas()
        ('files-api-2025-04-14',)
    """
    if not isinstance(replace, bool):
        raise TypeError(f"betas(replace=...) must be True or False, not {replace!r}")
    for name in names:
        if callable(name) and not isinstance(name, str) and getattr(type(name), "__iter__", None) is None:
            # `@betas` without parentheses: the function came as a name
            what = getattr(name, "__qualname__", None) or repr(name)
            raise InvalidBetaError(
                f"invalid beta name {name!r}: betas(...) takes beta names; to decorate "
                f'{what}, write @betas("name-of-the-beta") above it'
            )
    checked = parse_names(names)
    warn_unknown(checked)
    return BetaScope(checked, replace)
