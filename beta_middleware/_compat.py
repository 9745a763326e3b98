"""Helpers for the optional stacks."""

from __future__ import annotations

__all__ = ["missing_stack"]


def missing_stack(module: str, extra: str) -> str:
    """The message of the `ImportError` raised when an integration's stack is absent."""
    return (
        f"beta_middleware.{extra} needs the {module!r} package, which is not installed; "
        f"install it with: pip install 'beta-middleware[{extra}]'"
    )
