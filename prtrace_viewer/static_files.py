"""The viewer's static files: an allow-list read once, served under versioned URLs.

No path from a request ever reaches the file system: the static route looks a name up in the
files read at start. Each file's version is a hash of its bytes, so a page's `?v=` URL can be
cached for a year and a new release is still fetched at once. `viewer.css` is served with
pygments' rules appended, so the highlighter's classes and the stylesheet never drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from starlette.responses import Response

from .highlight import stylesheet

__all__ = ["Static", "load_static", "static_response", "versioned_url"]

_IMMUTABLE = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Static:
    body: bytes
    media_type: str
    version: str


def load_static() -> dict[str, Static]:
    """The files under static/ by name (hidden files left out), with their media types and
    versions."""
    files: dict[str, Static] = {}
    folder = resources.files("prtrace_viewer") / "static"
    for entry in folder.iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        if entry.name == "viewer.css":
            body += b"\n/* syntax highlighting */\n" + stylesheet().encode()
        suffix = entry.name[entry.name.rfind(".") :] if "." in entry.name else ""
        media = _MEDIA_TYPES.get(suffix, "text/plain; charset=utf-8")
        files[entry.name] = Static(body, media, hashlib.sha256(body).hexdigest()[:12])
    return files


def versioned_url(files: Mapping[str, Static], name: str) -> str:
    """The URL the templates link a static file by: its version makes it safe to cache."""
    return f"/ui/static/{name}?v={files[name].version}"


def static_response(found: Static, version: str | None) -> Response:
    """The file, cached for good when the URL names its current version, else revalidated."""
    response = Response(found.body, media_type=found.media_type)
    response.headers["Cache-Control"] = _IMMUTABLE if version == found.version else "no-cache"
    return response
