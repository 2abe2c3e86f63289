"""Which index and object store a URL names. The one place a new backend is plugged in."""

from __future__ import annotations

from .blobs import BlobStore
from .blobs_folder import FolderBlobs
from .errors import ConfigError
from .index import IndexStore
from .index_sqlite import SqliteIndex

__all__ = ["open_blobs", "open_index"]


def open_index(url: str) -> IndexStore:
    """The index store for PRTRACE_DATABASE_URL, migrated to the current schema."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return SqliteIndex.from_url(url)
    if scheme in ("postgresql", "postgres"):
        raise ConfigError(
            "PRTRACE_DATABASE_URL: PostgreSQL is not available in this version of prtrace-server",
            hint="unset PRTRACE_DATABASE_URL to use the embedded SQLite index",
        )
    raise ConfigError(f"PRTRACE_DATABASE_URL: unsupported scheme {scheme!r}; use sqlite:///PATH")


def open_blobs(url: str) -> BlobStore:
    """The object store for PRTRACE_STORAGE_URL."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        return FolderBlobs.from_url(url)
    if scheme == "s3":
        raise ConfigError(
            "PRTRACE_STORAGE_URL: S3 is not available in this version of prtrace-server",
            hint="unset PRTRACE_STORAGE_URL to keep objects in the data folder",
        )
    raise ConfigError(f"PRTRACE_STORAGE_URL: unsupported scheme {scheme!r}; use file://PATH")
