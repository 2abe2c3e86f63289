"""The embedded object store: one file per object under a folder.

Writes go to a temporary file in the same folder, are fsynced, then renamed over the key, so a
reader sees the whole object or none, and a crash leaves at worst a stray temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .blobs import check_key, missing
from .errors import ConfigError, StoreUnavailable
from .private_files import private_dir

__all__ = ["FolderBlobs", "folder_path"]

_TEMP_PREFIX = ".tmp-"


def folder_path(url: str) -> Path:
    """The folder a `file:///absolute` or `file://relative` URL names."""
    if not url.startswith("file://") or not url[len("file://") :]:
        raise ConfigError(f"PRTRACE_STORAGE_URL: expected file://PATH, got {url!r}")
    return Path(url[len("file://") :])


class FolderBlobs:
    """BlobStore on a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)

    @classmethod
    def from_url(cls, url: str) -> FolderBlobs:
        """The store for a `file://PATH` URL."""
        return cls(folder_path(url))

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            new_folder = not path.parent.is_dir()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            _fsync_dir(path.parent)
            if new_folder:
                for folder in path.parent.parents:
                    _fsync_dir(folder)
                    if folder == self.root:
                        break
        except OSError as exc:
            raise StoreUnavailable(f"cannot write object {key}: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise missing(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read object {key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def ping(self) -> None:
        if not (self.root.is_dir() and os.access(self.root, os.R_OK | os.W_OK | os.X_OK)):
            raise StoreUnavailable(f"the object folder {self.root} is missing or not writable")

    def close(self) -> None:
        pass


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
