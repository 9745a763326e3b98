"""Anthropic API betas as a context: `with betas(...)`, and integrations that send them.

The core needs no HTTP library. Each integration lives in its own module, importable
when its stack is installed: `beta_middleware.requests`, `beta_middleware.httpx`,
`beta_middleware.httpx2`, `beta_middleware.anthropic`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs start-up
if TYPE_CHECKING:
    from ._core.carry import carry
    from ._core.errors import InvalidBetaError, UnknownBetaWarning
    from ._core.header import HEADER
    from ._core.known import known_betas
    from ._core.rejected import UnsupportedBetaError, raise_for_betas, rejected_betas
    from ._core.scope import BetaScope, betas, current_betas
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

# Each name is imported on first use: a process imports only the modules it uses - a pool's
# worker that runs a carried job, the scopes (benchmarks/pools.py); a program that scopes
# betas, not the header rules until it sends; installing needs the import hook.
_LAZY = {
    "BetaScope": "_core.scope",
    "betas": "_core.scope",
    "current_betas": "_core.scope",
    "carry": "_core.carry",
    "HEADER": "_core.header",
    "InvalidBetaError": "_core.errors",
    "UnknownBetaWarning": "_core.errors",
    "known_betas": "_core.known",
    "UnsupportedBetaError": "_core.rejected",
    "raise_for_betas": "_core.rejected",
    "rejected_betas": "_core.rejected",
    "Installation": "_install.installation",
    "install": "_install.installation",
    "uninstall": "_install.installation",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"
