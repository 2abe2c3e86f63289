"""Where the capture side keeps its state: `PRTRACE_HOME`, else the platform's user data dir."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Home", "home"]


@dataclass(frozen=True, slots=True)
class Home:
    """The state folder and the files in it."""

    root: Path

    @property
    def buffer(self) -> Path:
        return self.root / "buffer.db"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def shell(self) -> Path:
        """Scratch files of the shell hooks (`<shell>.<pid>.*`), swept once their shell is gone."""
        return self.root / "shell"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def repos_list(self) -> Path:
        """Registered repo paths, one per line: read by shell hooks without starting Python."""
        return self.root / "repos"

    def ensure(self) -> Home:
        """Create the folders (0700: they hold diffs and command output)."""
        for folder in (self.root, self.spool, self.blobs, self.locks, self.shell):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.root.chmod(0o700)  # made earlier with a looser umask, or by hand
        return self


def home() -> Home:
    """The state folder for this process, from `PRTRACE_HOME` or platformdirs."""
    override = os.environ.get("PRTRACE_HOME")
    if override:
        return Home(Path(override).expanduser().absolute())
    from platformdirs import user_data_dir

    return Home(Path(user_data_dir("prtrace", appauthor=False)))
