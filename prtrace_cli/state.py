"""Opening the local state a command needs: home folder, buffer, settings, the current repo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.config import Settings
    from prtrace_daemon.gitrepo import GitRepo
    from prtrace_daemon.paths import Home
    from prtrace_daemon.recorder import Recorder

__all__ = ["current_repo", "open_buffer", "open_home", "recorder", "settings"]


def open_home() -> Home:
    from prtrace_daemon.paths import home

    return home().ensure()


def open_buffer(home: Home) -> Buffer:
    from prtrace_daemon.buffer import Buffer

    return Buffer(home.buffer)


def settings(home: Home, server: str | None = None) -> Settings:
    from dataclasses import replace

    from prtrace_daemon.config import load_settings

    loaded = load_settings(home.config)
    return replace(loaded, server=server.rstrip("/")) if server else loaded


def recorder(home: Home, buffer: Buffer) -> Recorder:
    """The capture side: a user pattern that is invalid or too slow is left out with a warning,
    never a reason to stop recording (or to stop `prtrace run` from running the command)."""
    import sys

    from prtrace_core.redact import Redactor
    from prtrace_daemon.config import load_settings
    from prtrace_daemon.recorder import Recorder

    redactor = Redactor(load_settings(home.config, check=False).redact_patterns, skip_invalid=True)
    for refused in redactor.refused:
        print(f"prtrace: warning: left out of redaction: {refused}", file=sys.stderr)
    return Recorder(home, buffer, redactor)


def current_repo() -> GitRepo:
    from prtrace_daemon.gitrepo import find_repo

    return find_repo(Path.cwd())
