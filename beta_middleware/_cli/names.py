"""`python -m beta_middleware check [--strict] NAME...` and `known [--json]`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from .._core.errors import InvalidBetaError
from .._core.known import bundled, known_dates, suggestion
from .._core.names import check_name
from .text import fit

__all__ = ["check", "known"]


def check(names: Sequence[str], strict: bool, out: TextIO) -> int:
    """Print `valid`, `invalid` (why) or `unknown` (with a suggestion) for each name.

    Returns 1 when a name is invalid, or unknown with `strict`; else 0.
    """
    dates = known_dates()
    status = 0
    for name in names:
        try:
            check_name(name)
        except InvalidBetaError as exc:
            # the message names the value with repr: safe to print whatever was given
            print(fit(f"invalid  {name!r}: {str(exc).split(': ', 1)[1]}", " " * 9), file=out)
            status = 1
            continue
        if name in dates:
            date = dates[name]
            print(f"valid    {name}" + (f" (published {date})" if date else ""), file=out)
            continue
        close = suggestion(name)
        why = f"did you mean {close!r}?" if close else "not in the known list; it may be newer"
        print(fit(f"unknown  {name}: {why}", " " * 9), file=out)
        if strict:
            status = 1
    return status


def known(as_json: bool, out: TextIO) -> int:
    """List the known names with their dates, newest first (undated names last)."""
    entries = sorted(known_dates().items(), key=lambda item: (item[1] or "", item[0]), reverse=True)
    if as_json:
        payload = {"updated": bundled()[0], "betas": [{"name": n, "date": d} for n, d in entries]}
        print(json.dumps(payload, indent=2), file=out)
    else:
        for name, date in entries:
            print(f"{date or '(no date)':<10}  {name}", file=out)
    return 0
