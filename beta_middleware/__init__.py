"""Anthropic API betas as a context: `with betas(...)`, and integrations that send them.

The core needs no HTTP library. Each integration lives in its own module, importable
when its stack is installed: `beta_middleware.requests`, `beta_middleware.httpx`,
`beta_middleware.httpx2`, `beta_middleware.anthropic`.
"""

from __future__ import annotations

from ._core.errors import InvalidBetaError, UnknownBetaWarning
from ._core.header import HEADER
from ._core.known import known_betas
from ._core.rejected import UnsupportedBetaError, raise_for_betas, rejected_betas
from ._core.scope import BetaScope, betas, current_betas

TYPE_CHECKING = False  # `typing` costs start-up
if TYPE_CHECKING:
    from ._core.carry import carry
    from ._install.installation import Installation, install, uninstall

__all__ = [
    "HEADER",
    "BetaScope",
    "Installation",
    "InvalidBetaError",
    "UnknownBetaWarning",
    "UnsupportedBetaError",
    "betas",
    "carry",
    "current_betas",
    "install",
    "known_betas",
    "raise_for_betas",
    "rejected_betas",
    "uninstall",
]

# Imported on first use: `import beta_middleware` stays as cheap as the core (installing
# needs the import hook; carrying, the wrappers).
_LAZY = {
    "Installation": "_install.installation",
    "install": "_install.installation",
    "uninstall": "_install.installation",
    "carry": "_core.carry",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"
