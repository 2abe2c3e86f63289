"""The embedded store's files are the server user's alone: the data dir 0700, index.db 0600.

The index holds token hashes and every trace's envelope, the object folder the events
themselves. Modes are set with chmod after creating, because the mode given to mkdir or open
is narrowed by the process's umask, never widened: the result must not depend on it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigError
from .settings import ServerSettings

__all__ = ["DIR_MODE", "FILE_MODE", "private_data_dir", "private_dir", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create the folder (and its missing parents) with DIR_MODE; an existing one is left as
    it is — it may be a folder others share, such as the one a database URL points into."""
    if path.is_dir():
        return
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {path}: {exc.strerror or exc}") from None


def private_file(path: Path) -> None:
    """Create the file empty if it is missing, and make it FILE_MODE either way."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
                os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"cannot make {path} private to this user: {exc.strerror or exc}") from None


def private_data_dir(settings: ServerSettings) -> None:
    """Make PRTRACE_DATA_DIR DIR_MODE when the embedded index or object folder lives in it:
    created so, and an existing one (made by an older version, or by hand) tightened."""
    if settings.database_url is not None and settings.storage_url is not None:
        return  # PostgreSQL and S3: the data dir holds nothing
    folder = settings.data_dir
    private_dir(folder)
    try:
        if stat.S_IMODE(folder.stat().st_mode) != DIR_MODE:
            os.chmod(folder, DIR_MODE)
    except OSError as exc:
        raise ConfigError(
            f"cannot make the data dir {folder} private to this user: {exc.strerror or exc}",
            hint="run the server as the owner of PRTRACE_DATA_DIR, or point PRTRACE_DATA_DIR at a folder of its own",
        ) from None
