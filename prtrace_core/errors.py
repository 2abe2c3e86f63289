"""The error hierarchy's root, and the errors both sides share.

Each class is one thing a user can meet. `PrtraceError` is the base of every error prtrace
expects; the guarded entry (`prtrace_core.guard`) prints its message and hint as one line each,
the server maps its own subclasses (`prtrace_server.errors`) to status codes in one place. The
capture side's errors are in `prtrace_daemon.client_errors`.
"""

from __future__ import annotations

__all__ = ["ConfigError", "Interrupted", "PrtraceError"]


class PrtraceError(Exception):
    """Base of every error prtrace expects; anything else is a bug."""

    hint: str | None = None
    exit_code: int = 1  # what the command exits with

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(PrtraceError):
    """A setting is invalid: the client's config.toml or environment, the server's settings,
    or a backend this version does not have."""


class Interrupted(PrtraceError):
    """Ctrl-C: the command stops where it is and exits 130, as a shell reports SIGINT."""

    exit_code = 130
