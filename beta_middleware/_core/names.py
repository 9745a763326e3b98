"""What a beta name is: validation, and the ordered de-duplicated set of names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from .errors import InvalidBetaError
from .tokens import CHARS, is_token

__all__ = ["NONE", "NOTHING_YET", "Merged", "NameSet", "check_name", "parse_names"]


_BLANKS = {" ": "a space", "\t": "a tab", "\r": "a line break", "\n": "a line break"}


def _blank(char: str) -> str:
    return _BLANKS.get(char) or f"the blank {char!r}"


def _separate(name: str) -> str:
    """What to write instead of `name`, which holds a comma: its names apart, when they are names."""
    parts = [part.strip() for part in name.split(",") if part.strip()]
    if not parts or not all(is_token(part) for part in parts):
        return ""
    if len(parts) == 1:
        return f"; write {parts[0]!r}"
    listed = ", ".join(repr(part) for part in parts[:-1]) + f" and {parts[-1]!r}"
    return f": give them as separate names, {listed}"


def _why(name: str) -> str:
    """Why `name` is no token (its first offending character), and what to write instead."""
    stripped = name.strip()
    if not stripped and name:
        return "it is blank"
    if stripped != name and "," not in name and is_token(stripped):  # blanks around it: say where
        where = []
        if name[0] != stripped[0]:
            where.append(f"starts with {_blank(name[0])}")
        if name[-1] != stripped[-1]:
            where.append(f"ends with {_blank(name[-1])}")
        return f"it {' and '.join(where)}; write {stripped!r}"
    for char in stripped:
        if char in CHARS:
            continue
        if char == ",":
            count = len([part for part in name.split(",") if part.strip()])
            split = "split it" if count < 2 else f"split it into {'two' if count == 2 else count} names"
            return f"a comma would {split}" + _separate(name)
        if char == " ":
            return "it contains a space"
        if char in "\r\n":
            return "it contains a line break"
        if not char.isascii():
            return f"it contains the non-ASCII character {char!r}"
        if not char.isprintable():
            return f"it contains the control character {char!r}"
        return f"{char!r} is not allowed in an HTTP header token"
    return "it is empty"


def check_name(name: object) -> str:
    """Return `name` if it can be sent as a beta name, else raise `InvalidBetaError`."""
    if not isinstance(name, str):
        raise InvalidBetaError(
            f"invalid beta name {name!r}: expected a str such as 'files-api-2025-04-14', "
            f"got {type(name).__name__}"
        )
    if not name or not is_token(name):
        raise InvalidBetaError(f"invalid beta name {name!r}: {_why(name)}")
    return name


def parse_names(args: Iterable[object]) -> tuple[str, ...]:
    """Validate `args` - each a name or an iterable of names - into unique names, in order.

    Everything is checked before anything is returned, so a bad name anywhere leaves
    the caller with an exception and nothing half-built. Where names come in (`betas()`,
    an integration's `betas=`, the `run` settings, the test kit), the caller then hands
    them to `known.warn_unknown`, which warns of likely typos.
    """
    names: dict[str, None] = {}
    for arg in args:
        if isinstance(arg, str):
            names[check_name(arg)] = None
        elif isinstance(arg, (bytes, bytearray)) or getattr(type(arg), "__iter__", None) is None:
            check_name(arg)  # raises, naming the value and its type
        else:
            for name in arg:  # type: ignore[attr-defined]  # it has `__iter__`
                names[check_name(name)] = None
    return tuple(names)


NOTHING_YET: Mapping[str, str] = MappingProxyType({})
"""`NameSet.after` before any value was remembered."""


class NameSet:
    """An immutable, ordered set of valid names with its header value precomputed.

    Built when a scope is entered or an integration is created, so that a request
    only reads `joined`.
    """

    __slots__ = ("after", "joined", "members", "merged", "names")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.members = frozenset(names)
        self.joined = ",".join(names)
        # What `Rules.added` made of these names for the rules that read them last
        # (see `Rules.added`): a cache, not part of the value.
        self.merged: Merged | None = None
        # A request's own header value -> the value sent with these names after it
        # (written by `header.sent` only): a client mostly repeats its own values. A
        # cache too, read with one `get` per request; until a first value it is a shared
        # read-only empty mapping, so that a scope allocates nothing for it.
        self.after: Mapping[str, str] = NOTHING_YET

    def extend(self, names: Iterable[str]) -> NameSet:
        """Return these names followed by the new ones in `names` (self if none is new)."""
        new = tuple(n for n in dict.fromkeys(names) if n not in self.members)
        return NameSet(self.names + new) if new else self

    def without(self, names: frozenset[str]) -> NameSet:
        """Return these names less those in `names` (self if none is removed)."""
        kept = tuple(n for n in self.names if n not in names)
        return self if len(kept) == len(self.names) else NameSet(kept)

    def __bool__(self) -> bool:
        return bool(self.names)

    def __repr__(self) -> str:
        return f"NameSet({self.names!r})"


NONE = NameSet(())
"""No names: what a layer adds where it adds nothing (a hop outside its hosts)."""


class Merged(NameSet):
    """Names an integration adds: its fixed betas and a context's, less what was dropped.

    It records what it was made of, so that a context's names can hold it as their
    `merged` cache and tell whether it is still right for the rules reading it.
    """

    __slots__ = ("dropped", "fixed")

    def __init__(self, names: tuple[str, ...], fixed: NameSet, dropped: frozenset[str]) -> None:
        super().__init__(names)
        self.fixed = fixed
        self.dropped = dropped
