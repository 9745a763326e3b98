"""Known beta names: the bundled list, the installed SDK's, and typo warnings against them.

Nothing is read at import. The bundled list (`known_betas.json`, refreshed by
`scripts/refresh-known-betas`) is loaded on first need; the installed anthropic SDK's
`AnthropicBetaParam` literals are read from its source file, never by importing it
(that costs about a second). Typo checks go through an index of the known names, so a
new name is compared only with the few that could be within the edit limit.
"""

from __future__ import annotations

import os
import sys
from _thread import allocate_lock
from functools import cache

from .errors import UnknownBetaWarning
from .tokens import is_token

TYPE_CHECKING = False  # `typing` is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from importlib.machinery import ModuleSpec
    from pathlib import Path


__all__ = [
    *("bundled", "date_of", "known_betas", "known_dates", "parse_literals", "sdk_betas", "suggestion"),
    "warn_unknown",
]

_FILE = os.path.join(os.path.dirname(__file__), "known_betas.json")


def __getattr__(name: str) -> Path:
    # `DATA`, the bundled file as a `Path`, for the refresh script and tests: `pathlib`
    # is imported only for them.
    if name == "DATA":
        from pathlib import Path

        return Path(_FILE)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _split_date(name: str) -> tuple[str, str] | None:
    """`(feature, "YYYY-MM-DD")` when `name` has the shape `feature-YYYY-MM-DD`, else None."""
    date = name[-10:]
    if len(name) < 12 or name[-11] != "-" or date[4] != "-" or date[7] != "-":
        return None
    digits = date[:4] + date[5:7] + date[8:]
    return (name[:-11], date) if digits.isascii() and digits.isdigit() else None


def date_of(name: str) -> str | None:
    """The date of `name` (`feature-YYYY-MM-DD`) when it is a real calendar date, else None."""
    parts = _split_date(name)
    if parts is None:
        return None
    date = parts[1]
    year, month, day = int(date[:4]), int(date[5:7]), int(date[8:])
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1]:
        return None
    if month == 2 and day == 29 and (year % 4 or (year % 100 == 0 and year % 400)):
        return None
    return date


@cache
def bundled() -> tuple[str, dict[str, str | None]]:
    """The bundled file's date and its names with their dates."""
    # through the loader, so that a zipped install reads it too
    text = __spec__.loader.get_data(_FILE).decode("utf-8")  # type: ignore[union-attr]
    return read_bundled(text)


def read_bundled(text: str) -> tuple[str, dict[str, str | None]]:
    """The date and the names with their dates of `text`, the bundled file's JSON.

    Read as `scripts/refresh-known-betas` writes it, one entry a line, without `json`:
    importing it (and `re`, which it imports) was most of the first name's cost. Any other
    shape, or an escape anywhere, is read by `json`.
    """
    head, found, body = text.partition('"betas": [\n')
    updated = head.partition('{"updated": "')[2].partition('"')[0]
    names: dict[str, str | None] = {}
    if found and updated and "\\" not in text:
        for line in body.splitlines():
            entry = line.strip().removesuffix(",")
            name, comma, date = entry.removeprefix('{"name": "').removesuffix("}").partition('", "date": ')
            if entry == "]}":
                return updated, names
            if not (comma and entry.startswith('{"name": "') and entry.endswith("}")):
                break
            if date != "null" and not (len(date) == 12 and date[0] == date[-1] == '"'):
                break
            names[name] = None if date == "null" else date[1:-1]
    import json  # only for a shape the refresh script does not write

    data = json.loads(text)
    return data["updated"], {entry["name"]: entry["date"] for entry in data["betas"]}


_PARAM = "types/anthropic_beta_param.py"  # where the SDK defines `AnthropicBetaParam`


def _word(char: str) -> bool:
    r"""Whether `char` is a word character (what `re`'s `\w` matches)."""
    return char.isalnum() or char == "_"


def parse_literals(source: str) -> frozenset[str]:
    """The str literals in the `Literal[...]` parts of `AnthropicBetaParam = ...` in `source`.

    Anything else - no such assignment, no `Literal`, a value that is no beta name -
    gives fewer names or none, never an error: the check is advisory. Read with `str`
    methods, not `re` (importing and compiling it cost more than the rest of a first
    name's check): the assignment is a line starting with the name, then an `=` on it.
    """
    name = "AnthropicBetaParam"
    at = source.find(name)
    while at != -1:
        after = at + len(name)
        equals, newline = source.find("=", after), source.find("\n", after)
        if (
            (at == 0 or source[at - 1] == "\n")
            and not (after < len(source) and _word(source[after]))
            and equals != -1
            and (newline == -1 or equals < newline)
        ):
            break
        at = source.find(name, after)
    else:
        return frozenset()
    # the expression: up to the first line end outside brackets
    depth, end = 0, len(source)
    for i in range(equals + 1, len(source)):
        char = source[i]
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "\n" and depth <= 0:
            end = i
            break
    expression = source[equals + 1 : end]
    names: set[str] = set()
    at = expression.find("Literal[")
    while at != -1:
        close = expression.find("]", at)
        if close == -1:
            break
        if at == 0 or not _word(expression[at - 1]):
            names.update(
                literal for literal in _quoted(expression[at + 8 : close]) if literal and is_token(literal)
            )
            at = expression.find("Literal[", close + 1)
        else:
            at = expression.find("Literal[", at + 1)
    return frozenset(names)


def _quoted(text: str) -> Iterator[str]:
    """The contents of the quoted strings in `text` holding no backslash or line end."""
    at = 0
    while at < len(text):
        quote = text[at]
        if quote in "\"'":
            close = text.find(quote, at + 1)
            if close != -1 and "\\" not in text[at + 1 : close] and "\n" not in text[at + 1 : close]:
                yield text[at + 1 : close]
                at = close + 1
                continue
        at += 1


def _find_spec(name: str) -> ModuleSpec | None:
    """Where top-level module `name` is, without importing it.

    What `importlib.util.find_spec` does for a top-level name, without importing
    `importlib.util` (a millisecond of a first name's check).
    """
    if name in sys.modules:
        module = sys.modules[name]
        return None if module is None else module.__spec__
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec = None if find is None else find(name, None)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


@cache
def sdk_betas() -> frozenset[str]:
    """The `AnthropicBetaParam` literals of the installed anthropic SDK; empty without one.

    Read from the SDK's files, found without importing it.
    """
    try:
        spec = _find_spec("anthropic")
        locations = list(spec.submodule_search_locations or ()) if spec is not None else []
        for location in locations:
            path = os.path.join(location, *_PARAM.split("/"))
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as file:
                    return parse_literals(file.read())
    except Exception:  # absent, broken or unreadable SDK: the check is advisory, never an error
        pass
    return frozenset()


@cache
def known_dates() -> dict[str, str | None]:
    """Every known name with its date: the bundled list, then the SDK's names."""
    dates = dict(bundled()[1])
    for name in sorted(sdk_betas()):
        dates.setdefault(name, date_of(name))
    return dates


def known_betas() -> frozenset[str]:
    """The published beta names known to this package.

    The bundled list, united with the `AnthropicBetaParam` literals of the installed
    anthropic SDK when there is one (read from its files, not imported; read once, then
    cached). New betas appear all the time: a name missing here may still be valid.
    """
    return _known()


@cache
def _known() -> frozenset[str]:
    return frozenset(known_dates())


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of neighbours as one edit; `limit + 1` once above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


_Q = 3  # the index's grams: 3 characters


def _grams(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(len(text) - _Q + 1):
        gram = text[i : i + _Q]
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def _limit(length: int) -> int:
    return 2 if length >= 16 else 1 if length >= 8 else 0


class _Grams:
    """Names by length and by 3-gram, to find those within a few edits of a name.

    Within `k` edits (a swap of neighbours counting one) two strings share at least
    `max(len) - 2 - 4k` of their 3-grams, counted with repeats: an edit changes at most
    the 4 grams over the characters it touches. That is at least 2 for every length
    with an edit limit (8 and up), so a name is compared only with the names of a
    length within the limit that share that many grams - a few, not all.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        # length -> gram -> [(index in names, count of the gram in it)]
        self.grams: dict[int, dict[str, list[tuple[int, int]]]] = {}
        for i, name in enumerate(self.names):
            lowered = name.lower()
            bucket = self.grams.setdefault(len(lowered), {})
            for gram, count in _grams(lowered).items():
                bucket.setdefault(gram, []).append((i, count))

    def closest(self, name: str, limit: int) -> str | None:
        """The name within `limit` edits of `name` (case-insensitively), nearest first."""
        lowered = name.lower()
        grams = _grams(lowered)
        best: tuple[int, str] | None = None
        for length in range(len(lowered) - limit, len(lowered) + limit + 1):
            bucket = self.grams.get(length)
            if bucket is None:
                continue
            shared: dict[int, int] = {}
            for gram, count in grams.items():
                for i, theirs in bucket.get(gram, ()):
                    shared[i] = shared.get(i, 0) + min(count, theirs)
            needed = max(len(lowered), length) - (_Q - 1) - (_Q + 1) * limit
            for i, common in shared.items():
                if common < needed:
                    continue
                candidate = self.names[i]
                distance = _distance(lowered, candidate.lower(), limit)
                if distance <= limit and (best is None or (distance, candidate) < best):
                    best = (distance, candidate)
        return None if best is None else best[1]


def _normal(name: str) -> str:
    """`name` as published names are spelt: lower case, `-` between words (never `_`)."""
    return name.lower().replace("_", "-")


def _date_start(tail: str) -> bool:
    """Whether `tail` is the start of a `YYYY-MM-DD` date (or nothing): what is left of a cut date."""
    return len(tail) < 10 and all(c == "-" if i in (4, 7) else c.isdigit() for i, c in enumerate(tail))


class _Index:
    """The known names: their spellings, their features (the name less its date), and grams of both.

    A feature is what comes before a name's date (`files-api` of `files-api-2025-04-14`);
    `newest` gives each feature's latest version, the one to suggest for the feature alone.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.full = _Grams(names)
        self.spelt = {_normal(name): name for name in self.full.names}
        self.features: dict[str, list[str | None]] = {}
        self.newest: dict[str, str] = {}
        for name in self.full.names:  # sorted: a feature's versions come oldest first
            parts = _split_date(name)
            if parts is not None:
                self.features.setdefault(parts[0], []).append(date_of(name))
                self.newest[_normal(parts[0])] = name
        self.feature_grams = _Grams(self.newest)

    def newer_version(self, name: str) -> bool:
        """Whether `name` is a known feature with a real date later than all its versions."""
        date = date_of(name)
        if date is None:
            return False
        dates = self.features.get(name[:-11], [])
        return bool(dates) and all(d is not None and d < date for d in dates)

    def undated(self, normal: str) -> str | None:
        """The newest known name whose feature `normal` is, alone or with the start of a date."""
        found = self.newest.get(normal)
        at = normal.find("-")
        while found is None and at != -1:
            if _date_start(normal[at + 1 :]):
                found = self.newest.get(normal[:at])
            at = normal.find("-", at + 1)
        return found


@cache
def _index() -> _Index:
    return _Index(known_betas())


def suggestion(name: str) -> str | None:
    """The known name `name` is a likely mistake for, or None.

    In this order: the same name in other case or with `_` for `-`
    (`files_api_2025_04_14`); a known feature without its date, or with only the start
    of it (`files-api`, `files-api-2025`: the newest version); a typo of a known name;
    a typo of a feature without a date. A typo is at most 1 edit for names of 8 to 15
    characters and 2 from 16 (beta names run 14 to 45; a keystroke or two, a swap of
    neighbours counting one), compared case-insensitively. A real date later than every
    known version of a known feature is taken for a newer version, not a typo: that is
    how new betas usually appear.
    """
    if name in known_betas():
        return None
    index = _index()
    normal = _normal(name)
    found = index.spelt.get(normal) or index.undated(normal)
    if found is not None:
        return found
    if index.newer_version(normal):
        return normal if normal != name else None  # a new version, but spelt as none is
    limit = _limit(len(name))
    if not limit:
        return None
    found = index.full.closest(name, limit)
    if found is None and _split_date(normal) is None:
        feature = index.feature_grams.closest(normal, limit)
        found = None if feature is None else index.newest[feature]
    return found


_REMEMBERED = 4096
"""Names looked at, remembered so that each warns once: at most twice this many are kept.
A name forgotten (after this many newer ones) is looked at again, and may warn again."""
_checked: set[str] = set()  # the names looked at lately...
_older: set[str] = set()  # ...and those before them, dropped when `_checked` fills again
_lock = allocate_lock()


_PACKAGE = __name__.partition(".")[0]  # beta_middleware


def _user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first caller outside this package."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] == _PACKAGE:
        frame = frame.f_back
        level += 1
    return level


def warn_unknown(names: Iterable[str]) -> None:
    """Issue `UnknownBetaWarning` for names that look like typos of known ones.

    Costs a set lookup per name once a name has been seen; the known names (and their
    index) are read only for a name not bundled and not seen lately.
    """
    global _checked, _older
    if not names:
        return  # no names (an integration without `betas=`): nothing to read
    bundled_names = bundled()[1]
    for name in names:
        if name in bundled_names or name in _checked or name in _older:
            continue
        with _lock:
            if name in _checked or name in _older:
                continue
            if len(_checked) >= _REMEMBERED:
                _older, _checked = _checked, set()
            _checked.add(name)
        close = suggestion(name)
        if close is not None:
            import warnings

            warnings.warn(
                f"unknown beta name {name!r}: did you mean {close!r}?",
                UnknownBetaWarning,
                stacklevel=_user_stacklevel(),
            )
