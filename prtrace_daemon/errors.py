"""Errors the capture side raises; the CLI turns each into one red line and a hint."""

from __future__ import annotations

from prtrace_core.errors import PrtraceError

__all__ = [
    "AmbiguousRef",
    "BufferCorrupt",
    "BufferUnavailable",
    "CommandNotFound",
    "CommandNotRunnable",
    "ConfigError",
    "NotAGitRepo",
    "NotRegistered",
    "ServerError",
    "ServerUnreachable",
    "UnknownRef",
]


class NotAGitRepo(PrtraceError):
    """The current directory is not inside a git work tree."""

    hint = "run prtrace inside a git repository (git init, or cd into one)"


class NotRegistered(PrtraceError):
    """The repository has not been registered with `prtrace start`."""

    hint = "run `prtrace start` in this repository first"


class Paused(PrtraceError):
    """Capture is paused in this repository (`prtrace pause`)."""

    hint = "`prtrace resume` records again"


class BufferCorrupt(PrtraceError):
    """The local buffer file cannot be read as a SQLite database."""


class BufferUnavailable(PrtraceError):
    """The local buffer could not be written (disk full, permissions, locked too long)."""


class ConfigError(PrtraceError):
    """config.toml or a setting is invalid."""


class UnknownRef(PrtraceError):
    """A REF matched no trace."""


class AmbiguousRef(PrtraceError):
    """A REF matched several traces where one is needed."""


class ServerUnreachable(PrtraceError):
    """The server could not be reached, or kept answering 'try later'."""

    hint = "check the URL and that prtrace-server is running; nothing is lost, the events stay buffered"


class ServerError(PrtraceError):
    """The server refused a request (4xx) or answered with something unexpected."""


class CommandNotFound(PrtraceError):
    """`prtrace run` was given a command that does not exist (127, as a shell answers)."""

    exit_code = 127


class CommandNotRunnable(CommandNotFound):
    """The command exists but cannot be run: not executable, not a program (126, as a shell)."""

    exit_code = 126
