"""The error hierarchy. Each class is one thing a user can meet; the CLI prints the message and
the hint in one place, the server maps them to status codes in one place."""

from __future__ import annotations

__all__ = ["PrtraceError"]


class PrtraceError(Exception):
    """Base of every error prtrace expects; anything else is a bug."""

    hint: str | None = None
    exit_code: int = 1  # what the CLI exits with

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint
