"""Known beta names: the bundled list, the installed SDK's, and typo warnings against them.

The bundled list (`known_betas.json`, refreshed by `scripts/refresh-known-betas`) covers
the common case without importing anything: importing the anthropic SDK costs about a
second, so its `AnthropicBetaParam` literals are read only when a name is not bundled.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import json
import re
import sys
import threading
import typing
import warnings
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from ._errors import UnknownBetaWarning

__all__ = ["DATA", "date_of", "known_betas", "known_dates", "sdk_betas", "suggestion", "warn_unknown"]

DATA = Path(__file__).with_name("known_betas.json")

_DATED = re.compile(r"(?P<feature>.+)-(?P<date>\d{4}-\d{2}-\d{2})")


def date_of(name: str) -> str | None:
    """The date of `name` (`feature-YYYY-MM-DD`) when it is a real calendar date, else None."""
    match = _DATED.fullmatch(name)
    if match is None:
        return None
    try:
        datetime.date.fromisoformat(match["date"])
    except ValueError:
        return None
    return match["date"]


@functools.cache
def bundled() -> tuple[str, dict[str, str | None]]:
    """The bundled file's date and its names with their dates."""
    text = resources.files(__package__).joinpath(DATA.name).read_text(encoding="utf-8")
    data = json.loads(text)
    return data["updated"], {entry["name"]: entry["date"] for entry in data["betas"]}


def _literals(tp: object) -> list[str]:
    names: list[str] = []
    for arg in typing.get_args(tp):
        if isinstance(arg, str):
            names.append(arg)
        elif not isinstance(arg, type):  # `Union[str, Literal[...]]`: skip `str`, open the Literal
            names.extend(_literals(arg))
    return names


@functools.cache
def sdk_betas() -> frozenset[str]:
    """The `AnthropicBetaParam` literals of the installed anthropic SDK; empty without one."""
    try:
        module = importlib.import_module("anthropic.types.anthropic_beta_param")
    except Exception:  # absent or broken SDK: the check is advisory, never an error
        return frozenset()
    return frozenset(_literals(getattr(module, "AnthropicBetaParam", None)))


@functools.cache
def known_dates() -> dict[str, str | None]:
    """Every known name with its date: the bundled list, then the SDK's names."""
    dates = dict(bundled()[1])
    for name in sdk_betas():
        dates.setdefault(name, date_of(name))
    return dates


def known_betas() -> frozenset[str]:
    """The published beta names known to this package.

    The bundled list, united with the `AnthropicBetaParam` literals of the installed
    anthropic SDK when there is one (read once, then cached). New betas appear all the
    time: a name missing here may still be valid.
    """
    return _known()


@functools.cache
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


def _newer_version(name: str, known: Iterable[str]) -> bool:
    """Whether `name` is a known feature with a real date later than all its known versions."""
    date = date_of(name)
    if date is None:
        return False
    feature = name[: -len("-YYYY-MM-DD")]
    dates = [date_of(k) for k in known if _DATED.fullmatch(k) and k[: -len("-YYYY-MM-DD")] == feature]
    return bool(dates) and all(d is not None and d < date for d in dates)


def suggestion(name: str) -> str | None:
    """The known name `name` is a likely typo of, or None.

    Close means at most 1 edit for names of 8 to 15 characters and 2 from 16 (beta names
    run 14 to 45; a typo is a keystroke or two, a swap of neighbours counting one), compared
    case-insensitively. A real date later than every known version of a known feature is
    taken for a newer version, not a typo: that is how new betas usually appear.
    """
    known = known_betas()
    if name in known:
        return None
    limit = 2 if len(name) >= 16 else 1 if len(name) >= 8 else 0
    if not limit or _newer_version(name, known):
        return None
    lowered = name.lower()
    best: tuple[int, str] | None = None
    for candidate in known:
        distance = _distance(lowered, candidate.lower(), limit)
        if distance <= limit and (best is None or (distance, candidate) < best):
            best = (distance, candidate)
    return None if best is None else best[1]


_checked: set[str] = set()  # names already looked at: each warns at most once per process
_lock = threading.Lock()


def _user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first caller outside this package."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] == __package__:
        frame = frame.f_back
        level += 1
    return level


def warn_unknown(names: Iterable[str]) -> None:
    """Issue `UnknownBetaWarning` for names that look like typos of known ones.

    Costs a set lookup per name once a name has been seen; the known list is consulted
    (and the SDK imported, if it must be) only for names not bundled and not seen before.
    """
    bundled_names = bundled()[1]
    for name in names:
        if name in bundled_names or name in _checked:
            continue
        with _lock:
            if name in _checked:
                continue
            _checked.add(name)
        close = suggestion(name)
        if close is not None:
            warnings.warn(
                f"unknown beta name {name!r}: did you mean {close!r}?",
                UnknownBetaWarning,
                stacklevel=_user_stacklevel(),
            )
