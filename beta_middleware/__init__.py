"""Anthropic API betas as a context: `with betas(...)`, and integrations that send them.

The core needs no HTTP library. Each integration lives in its own module, importable
when its stack is installed: `beta_middleware.requests`, `beta_middleware.httpx`,
`beta_middleware.httpx2`, `beta_middleware.anthropic`.
"""

from __future__ import annotations

from ._errors import InvalidBetaError, UnknownBetaWarning, UnsupportedBetaError
from ._header import HEADER
from ._known import known_betas
from ._scope import BetaScope, betas, current_betas

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._rejected import raise_for_betas, rejected_betas

__all__ = [
    "HEADER",
    "BetaScope",
    "InvalidBetaError",
    "UnknownBetaWarning",
    "UnsupportedBetaError",
    "betas",
    "current_betas",
    "known_betas",
    "raise_for_betas",
    "rejected_betas",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Imported on first use: reading rejections needs `json` and `re`, which the
    # package's import does not pay for.
    if name in ("raise_for_betas", "rejected_betas"):
        from . import _rejected

        return getattr(_rejected, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
