"""The package's exceptions."""

from __future__ import annotations

__all__ = ["InvalidBetaError", "UnsupportedBetaError"]


class InvalidBetaError(ValueError):
    """A beta name that can never be sent: not a str, empty, or not an HTTP token.

    Raised where the bad value is given - by `betas(...)` or an integration's
    `betas=` - so that nothing is activated and no request is sent with it.
    """


class UnsupportedBetaError(Exception):
    """The API refused one or more beta names (HTTP 400 `Unsupported beta header`).

    Attributes:
        betas: the refused names, in the order the API gave them; empty when the
            error names none (Bedrock's `invalid beta flag`).
        status_code: the HTTP status of the response, when known.
        message: the API's error message.
    """

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
