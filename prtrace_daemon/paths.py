"""Where the capture side keeps its state: `PRTRACE_HOME`, else the platform's user data dir.

`note` and `run` find it through `home_root()` and the file names below without importing
pathlib, dataclasses or platformdirs (together ~30 ms, more than the rest of those commands).
"""

from __future__ import annotations

import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DAEMON_LOCK", "DAEMON_PID", "REPOS", "SPOOL", "Home", "home", "home_root"]

SPOOL = "spool"
REPOS = "repos"
DAEMON_LOCK = "daemon.lock"
DAEMON_PID = "daemon.pid"


class Home:
    """The state folder and the files in it. A plain class, not a dataclass: it is on the path
    of every `note` and `run`, and importing dataclasses costs more than the rest of it."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Home) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Home({str(self.root)!r})"

    @property
    def buffer(self) -> Path:
        return self.root / "buffer.db"

    @property
    def spool(self) -> Path:
        return self.root / SPOOL

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
        return self.root / REPOS

    def ensure(self) -> Home:
        """Create the folders (0700: they hold diffs and command output)."""
        for folder in (self.root, self.spool, self.blobs, self.locks, self.shell):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.root.chmod(0o700)  # made earlier with a looser umask, or by hand
        return self


def home_root() -> str:
    """The state folder's path: `PRTRACE_HOME`, else the user data folder platformdirs names
    (on Linux the XDG rule it follows, read here: importing platformdirs costs ~18 ms)."""
    override = os.environ.get("PRTRACE_HOME")
    if override:
        return os.path.abspath(os.path.expanduser(override))
    if sys.platform == "linux":
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return os.path.join(base, "prtrace")
    from platformdirs import user_data_dir

    return user_data_dir("prtrace", appauthor=False)


def home() -> Home:
    """The state folder for this process."""
    from pathlib import Path

    return Home(Path(home_root()))
