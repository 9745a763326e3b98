"""The command line's text: every line it prints fits `WIDTH` columns."""

from __future__ import annotations

__all__ = ["WIDTH", "fit"]

WIDTH = 100
"""The widest line the command line prints."""


def fit(text: str, indent: str = "  ") -> str:
    """`text` wrapped to `WIDTH` columns, each line after the first indented by `indent`.

    Words are never broken, so a value longer than a line (a name, a path) stays whole.
    """
    import textwrap  # only here: the command line's, not start-up's

    lines = textwrap.wrap(
        text, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines) if lines else text
