"""The embedded object store: one file per object under a folder.

Writes go to a temporary file in the same folder, are fsynced, then renamed over the key, so a
reader sees the whole object or none, and a crash leaves at worst a stray temporary file. A
put always makes a new file, so it restarts the object's age (its mtime) even when the bytes
are the same.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path

from .blobs import StoredObject, check_key, check_prefix, missing
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

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        top = self.root / check_prefix(prefix)

        def fail(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError):  # no folder yet: nothing stored there
                raise StoreUnavailable(f"cannot list objects under {prefix}: {exc.strerror or exc}") from exc

        for folder, dirs, files in os.walk(top, onerror=fail):
            dirs.sort()  # a folder's objects come together, and in a stable order
            for name in sorted(files):
                if name.startswith("."):
                    continue  # a temporary file, not an object
                path = Path(folder, name)
                key = path.relative_to(self.root).as_posix()
                try:
                    check_key(key)
                    age_s = time.time() - path.stat().st_mtime
                except (ValueError, FileNotFoundError):
                    continue  # not a name this store writes, or deleted since the walk saw it
                except OSError as exc:
                    raise StoreUnavailable(f"cannot list object {key}: {exc.strerror or exc}") from exc
                yield StoredObject(key, age_s)

    def delete(self, keys: Iterable[str], *, min_age_s: float = 0.0) -> list[str]:
        deleted: list[str] = []
        for key in keys:
            path = self._path(key)
            try:
                if min_age_s <= 0:
                    path.unlink()
                    deleted.append(key)
                elif self._delete_if_old(path, min_age_s):
                    deleted.append(key)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreUnavailable(f"cannot delete object {key}: {exc.strerror or exc}") from exc
        return deleted

    @staticmethod
    def _delete_if_old(path: Path, min_age_s: float) -> bool:
        """Move the object aside, then judge the file that was moved: a put that landed after
        the caller looked at the object has its own, new file, so it is either the one moved
        aside (young: linked back) or lands on the now free name (untouched)."""
        aside = path.with_name(f"{_TEMP_PREFIX}swept-{secrets.token_hex(6)}-{path.name}")
        os.rename(path, aside)
        try:
            if time.time() - aside.stat().st_mtime >= min_age_s:
                return True
            try:
                os.link(aside, path)  # never over a newer put of the key
            except FileExistsError:
                pass
            except OSError:
                # no hard links on this file system: move it back unless a put came first
                if not path.exists():
                    os.replace(aside, path)
            return False
        finally:
            with suppress(FileNotFoundError):
                aside.unlink()

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
