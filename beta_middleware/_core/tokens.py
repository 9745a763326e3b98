"""The token rule: which characters a beta name may hold (RFC 9110 token characters).

A leaf: every module that checks or reads names takes the rule from here. The comma,
space and CR/LF that could split or break the header are all outside it.
"""

from __future__ import annotations

__all__ = ["CHARS", "is_token"]

# A set, not a regular expression: `re` costs start-up.
CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
"""The token characters."""
is_token = CHARS.issuperset
"""Whether a str holds token characters only (True for ""): `is_token(name)`."""
