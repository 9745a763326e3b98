"""`drop_rejected=True`: what every integration does when the API rejects betas it added.

The steps, shared by all stacks (each integration only sends, reads and replays), run by
the owner of the request - the outermost of our layers that added names (see `Below`):
1. the layers that may drop names: the owner with `mine = ours(sent, own)`, the names it
   put on the request, if it has `drop_rejected=True`, and each layer below that reported
   the names it added (`Below.added`);
2. on a 4xx, `take = learn(layers, rejection, sent)` - each layer leaves the rejected names
   it added off every later request (one WARNING each), and `take` says what to take off
   a resend: empty when a resend cannot help (the rejection names nothing those layers
   added, or a sent name that the caller or a layer without `drop_rejected` set);
3. resend once with `without(header values, take)` - if the body can be replayed - under
   `Below(left_off=take, resend=True)`, so no layer below puts a name back, and `learn` from that
   response too, without resending again.
"""

from __future__ import annotations

from collections.abc import Sequence

from .header import Rules, split
from .log import logger, name_of
from .rejected import UnsupportedBetaError

__all__ = ["is_rejection_status", "learn", "logger", "ours", "without"]


def ours(sent: Sequence[str], own: Sequence[str]) -> frozenset[str]:
    """The names in the `sent` header values that are not in the caller's `own` values."""
    return frozenset(split(sent)).difference(split(own))


def is_rejection_status(status: int) -> bool:
    """Whether a response with `status` may be a beta rejection (worth reading its body)."""
    return 400 <= status < 500


def learn(
    layers: Sequence[tuple[Rules, frozenset[str]]], error: UnsupportedBetaError | None, sent: Sequence[str]
) -> frozenset[str]:
    """Each layer leaves the rejected names it added off later requests; return what a resend must lack.

    `layers` are (rules, names added) of the layers with `drop_rejected=True` on the
    request's path; `sent` the header values the request carried. Returns an empty set
    when a resend cannot succeed: no rejection, a rejection naming nothing (Bedrock),
    none of the layers' names, or a name that was sent and no such layer added. Rejected
    names that were not sent at all (the API may list several) change nothing.
    """
    if error is None or not error.betas:
        return frozenset()
    taken: dict[str, None] = {}
    for rules, mine in layers:
        names = [name for name in error.betas if name in mine]
        taken.update(dict.fromkeys(names))
        for name in rules.drop(names):
            logger.warning(
                "the API rejected beta %r (%s); it is left off every later request of %r",
                name,
                error.message,
                name_of(rules),
            )
    others = frozenset(split(sent)).difference(taken)
    return frozenset() if others.intersection(error.betas) else frozenset(taken)


def without(values: Sequence[str], names: frozenset[str]) -> str | None:
    """The header value `values` less `names`; None when nothing is left."""
    kept = [item for item in split(values) if item not in names]
    return ",".join(kept) if kept else None
