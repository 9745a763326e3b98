"""The package's exceptions."""

from __future__ import annotations

__all__ = ["InvalidBetaError", "UnknownBetaWarning", "UnsupportedBetaError"]

# Each is shown as `beta_middleware.X` in tracebacks and reprs, where users import it from:
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


class UnsupportedBetaError(Exception):
    """The API refused one or more beta names (HTTP 400 `Unsupported beta header`).

    Build one from a response, an anthropic `APIStatusError`, a JSON body or a str/bytes
    body with `UnsupportedBetaError.from_response(obj)`, or raise it with `raise_for_betas`.

    Attributes:
        betas: the refused names, in the order the API gave them; empty when the
            error names none (Bedrock's `invalid beta flag`).
        status_code: the HTTP status of the response, when known.
        message: the API's error message.
    """

    __module__ = "beta_middleware"

    def __init__(
        self,
        message: str,
        *,
        betas: tuple[str, ...] = (),
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.betas = betas
        self.status_code = status_code

    def __repr__(self) -> str:
        return (
            f"UnsupportedBetaError({self.message!r}, betas={self.betas!r}, status_code={self.status_code!r})"
        )

    @classmethod
    def from_response(cls, obj: object) -> UnsupportedBetaError | None:
        """The error `obj` holds when it is a beta rejection, else None.

        `obj` is what `rejected_betas` takes: a requests/httpx/httpx2 `Response`, an
        anthropic `APIStatusError`, a parsed JSON body, or a str/bytes body.
        """
        from ._rejected import rejection

        return rejection(obj)
