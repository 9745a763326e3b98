"""The errors of beta names, and the message of an integration whose stack is absent.

`UnsupportedBetaError`, the API's refusal of names, lives with the code that reads
refusals (`rejected`), which builds it.
"""

from __future__ import annotations

__all__ = ["InvalidBetaError", "UnknownBetaWarning", "missing_stack"]

# Each error is shown as `beta_middleware.X` in tracebacks and reprs, where users import it from:
# this module's name is private. (`beta_middleware` exports each under that name, so pickle
# finds them there too.)


class InvalidBetaError(ValueError):
    """A beta name that can never be sent: not a str, empty, or not an HTTP token.

    Raised where the bad value is given - by `betas(...)` or an integration's
    `betas=` - so that nothing is activated and no request is sent with it. The message
    shows the value with `repr` and, where there is one, what to write instead.
    """

    __module__ = "beta_middleware"


class UnknownBetaWarning(UserWarning):
    """A beta name that is not known but close to a known one: probably a typo.

    Issued by `betas(...)` and every `betas=` once per name per process: for a name a
    few keystrokes from a known one, a known name without its date (`files-api`), or
    one with `_` for `-`. Names not close to any known one stay silent, since new betas
    appear all the time.
    """

    __module__ = "beta_middleware"


def missing_stack(module: str, extra: str) -> str:
    """The message of the `ImportError` raised when an integration's stack is absent."""
    return (
        f"beta_middleware.{extra} needs the {module!r} package, which is not installed; "
        f"install it with: pip install 'beta-middleware[{extra}]'"
    )
