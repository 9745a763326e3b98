"""`drop_rejected=True`: what every integration does when the API rejects betas it added.

The steps, shared by all stacks (each integration only sends, reads and replays):
1. `mine = ours(sent, own)` - the names the integration put on this request;
2. on a 4xx, `take = learn(rules, rejection, mine)` - the rejected names among them are
   left off every later request of that integration (one WARNING each), and `take` says
   what to take off a resend: empty when a resend cannot help (the rejection names
   nothing, or names something the caller set);
3. resend once with `without(header values, take)` - if the body can be replayed - and
   `learn` from that response too, without resending again.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from ._errors import UnsupportedBetaError
from ._header import Rules, split

__all__ = [
    "is_rejection_status",
    "learn",
    "logger",
    "mark_resent",
    "ours",
    "resend",
    "resending",
    "was_resent",
    "without",
]

logger = logging.getLogger("beta_middleware")

R = TypeVar("R")


def ours(sent: Sequence[str], own: Sequence[str]) -> frozenset[str]:
    """The names in the `sent` header values that are not in the caller's `own` values."""
    return frozenset(split(sent)).difference(split(own))


def is_rejection_status(status: int) -> bool:
    """Whether a response with `status` may be a beta rejection (worth reading its body)."""
    return 400 <= status < 500


def learn(rules: Rules, error: UnsupportedBetaError | None, mine: frozenset[str]) -> frozenset[str]:
    """Leave the rejected names in `mine` off later requests; return what a resend must lack.

    Returns an empty set when a resend cannot succeed: no rejection, a rejection naming
    nothing (Bedrock), or one naming a name the integration did not add.
    """
    if error is None or not error.betas:
        return frozenset()
    taken = [name for name in error.betas if name in mine]
    for name in rules.drop(taken):
        logger.warning(
            "the API rejected beta %r (%s); it is left off every later request of %r",
            name,
            error.message,
            rules,
        )
    return frozenset(taken) if len(taken) == len(error.betas) else frozenset()


def without(values: Sequence[str], names: frozenset[str]) -> str | None:
    """The header value `values` less `names`; None when nothing is left."""
    kept = [item for item in split(values) if item not in names]
    return ",".join(kept) if kept else None


# Responses to a resend. A request can pass through several integrations (an explicit one
# under the process-wide installation, the SDK's middleware over an httpx2 transport):
# the first to resend marks the response it got, and the layers above it hand that on
# instead of resending again. Weak: the mark goes with the response.
_resent: weakref.WeakSet[object] = weakref.WeakSet()


# True while an integration resends: the integrations below it (an explicit transport
# under the SDK's middleware) send that request on as it is, without resending it again.
resending: ContextVar[bool] = ContextVar("beta_middleware_resending", default=False)


def resend(send: Callable[[Any], R], request: Any) -> R:
    """`send(request)` as a resend: the integrations below it do not resend it."""
    token = resending.set(True)
    try:
        return send(request)
    finally:
        resending.reset(token)


def mark_resent(response: object) -> None:
    """Record that `response` answers a resend."""
    _resent.add(response)


def was_resent(response: object) -> bool:
    """Whether `response` answers a resend made by some integration."""
    return response in _resent
