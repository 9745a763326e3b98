"""DEBUG lines on the `beta_middleware` logger: what a layer sent, and where each name came from.

Off by default (the logger's level is the root's, WARNING): a request then pays one
`isEnabledFor` check in the layer that touched it.
"""

from __future__ import annotations

import logging

from .header import Below, Rules, split
from .scope import current_betas

__all__ = ["DEBUG", "cached", "enabled", "logger", "name_of", "outside", "sent"]

logger = logging.getLogger("beta_middleware")
DEBUG = logging.DEBUG
enabled = logger.isEnabledFor
# `isEnabledFor` is a Python call of some hundred instructions, and a request pays it: the
# hot paths first read logging's own memo of its answers (cleared in place whenever a
# level changes), `cached(DEBUG) is not False and enabled(DEBUG)`, a dict lookup when off.
cached = logger._cache.get  # type: ignore[attr-defined]  # private: pinned in tests/test_log.py


def name_of(rules: Rules) -> object:
    """The integration `rules` belong to, as logs name it (the rules themselves if none)."""
    owner = rules.owner() if rules.owner is not None else None
    return rules if owner is None else owner


def sent(rules: Rules, where: str, own: object, value: object, under: Below | None = None) -> None:
    """Log what a layer (`rules`) sent to `where` (a host, or an SDK call) and why each name.

    `own` is the value the layer found on the request (the caller's own, or what a layer
    above set, when `under` is given), `value` what it sent.
    """
    found = set(split((_text(own),))) if own else set()
    context = () if under is not None else current_betas()
    origins = []
    for name in split((_text(value),)) if value else ():
        if name in found:
            why = "from a layer above" if under is not None else "the caller's"
        elif name in rules.fixed.members:
            why = "betas="
        elif name in context:
            why = "the scope"
        else:  # pragma: no cover - every name sent is one of those
            why = "?"
        origins.append(f"{name} ({why})")
    left_off = rules.dropped.union(under.left_off if under is not None else ())
    gone = sorted(left_off.intersection((*rules.fixed.names, *context)))
    if gone:
        origins.append("left off after a refusal: " + ", ".join(gone))
    logger.debug(
        "%r to %s: anthropic-beta: %s [%s]",
        name_of(rules),
        where,
        _text(value) if value else "(none)",
        "; ".join(origins) or "nothing added",
    )


def outside(rules: Rules, host: str) -> None:
    """Log that a layer (`rules`) added nothing to a request to `host`: outside its `hosts=`."""
    logger.debug("%r to %s: outside hosts=: nothing added", name_of(rules), host)


def _text(value: object) -> str:
    """A header value as text (requests allows bytes, which HTTP sends as Latin-1)."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
