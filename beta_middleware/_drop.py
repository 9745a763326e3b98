"""`drop_rejected=True`: what every integration does when the API rejects betas it added.

The steps, shared by all stacks (each integration only sends, reads and replays):
1. `mine = ours(sent, own)` - the names the integration put on this request;
2. on a 4xx, `take = learn(rules, rejection, mine)` - the rejected names among them are
   left off every later request of that integration (one WARNING each), and `take` says
   what to take off a resend: empty when a resend cannot help (the rejection names
   nothing of ours, or a sent name the caller set);
3. resend once with `without(header values, take)` - if the body can be replayed - and
   `learn` from that response too, without resending again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ._errors import UnsupportedBetaError
from ._header import Rules, split

__all__ = ["is_rejection_status", "learn", "logger", "ours", "without"]

logger = logging.getLogger("beta_middleware")


def ours(sent: Sequence[str], own: Sequence[str]) -> frozenset[str]:
    """The names in the `sent` header values that are not in the caller's `own` values."""
    return frozenset(split(sent)).difference(split(own))


def is_rejection_status(status: int) -> bool:
    """Whether a response with `status` may be a beta rejection (worth reading its body)."""
    return 400 <= status < 500


def learn(
    rules: Rules, error: UnsupportedBetaError | None, mine: frozenset[str], sent: Sequence[str]
) -> frozenset[str]:
    """Leave the rejected names in `mine` off later requests; return what a resend must lack.

    `sent` are the header values the request carried. Returns an empty set when a resend
    cannot succeed: no rejection, a rejection naming nothing (Bedrock), none of `mine`,
    or a name that was sent and the caller set. Rejected names that were not sent at all
    (the API may list several) change nothing.
    """
    if error is None or not error.betas:
        return frozenset()
    taken = [name for name in error.betas if name in mine]
    for name in rules.drop(taken):
        logger.warning(
            "the API rejected beta %r (%s); it is left off every later request of %r",
            name,
            error.message,
            _owner(rules),
        )
    callers = frozenset(split(sent)).difference(mine)
    return frozenset() if callers.intersection(error.betas) else frozenset(taken)


def _owner(rules: Rules) -> object:
    """The integration `rules` belong to, as logs name it (the rules themselves if none)."""
    owner = rules.owner() if rules.owner is not None else None
    return rules if owner is None else owner


def without(values: Sequence[str], names: frozenset[str]) -> str | None:
    """The header value `values` less `names`; None when nothing is left."""
    kept = [item for item in split(values) if item not in names]
    return ",".join(kept) if kept else None
