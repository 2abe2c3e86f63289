"""Errors the capture side raises (buffer, repository, refs, git, the push client); the guarded
entry turns each into one red line and a hint. Their root, and `ConfigError`, are in
`prtrace_core.errors`."""

from __future__ import annotations

from prtrace_core.errors import PrtraceError

__all__ = [
    "AmbiguousRef",
    "BufferCorrupt",
    "BufferUnavailable",
    "CommandNotFound",
    "CommandNotRunnable",
    "GitFailed",
    "NotAGitRepo",
    "NotRegistered",
    "Paused",
    "ServerRefused",
    "ServerUnreachable",
    "UnknownRef",
]


class NotAGitRepo(PrtraceError):
    """The current directory is not inside a git work tree."""

    hint = "run prtrace inside a git repository (git init, or cd into one)"


class GitFailed(PrtraceError):
    """A git command prtrace ran failed: the message quotes git's own stderr."""

    hint = "that is git's own message; `git status` in the repository shows what it needs"

    def __init__(self, cmd: list[str], returncode: int, stderr: bytes) -> None:
        self.cmd = cmd
        self.returncode = returncode
        self.stderr = stderr
        said = " ".join(stderr.decode("utf-8", "replace").split())[:500]
        # `ls-files -z -- PATH…` may name thousands of paths: the message stays one short line.
        shown = " ".join(cmd[:6]) + (" …" if len(cmd) > 6 else "")
        super().__init__(f"`{shown}` failed: {said or f'exit code {returncode}'}")


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


class UnknownRef(PrtraceError):
    """A REF matched no trace."""


class AmbiguousRef(PrtraceError):
    """A REF matched several traces where one is needed."""


class ServerUnreachable(PrtraceError):
    """The server could not be reached, or kept answering 'try later'."""

    hint = "check the URL and that prtrace-server is running; nothing is lost, the events stay buffered"


class ServerRefused(PrtraceError):
    """The server refused a request (4xx) or answered with something unexpected (the server's
    own errors, which it answers with, are `prtrace_server.errors.ServerError`)."""


class CommandNotFound(PrtraceError):
    """`prtrace run` was given a command that does not exist (127, as a shell answers)."""

    exit_code = 127


class CommandNotRunnable(CommandNotFound):
    """The command exists but cannot be run: not executable, not a program (126, as a shell)."""

    exit_code = 126
