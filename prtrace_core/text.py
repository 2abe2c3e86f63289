"""Text that can be stored: valid UTF-8 everywhere, whatever the file system or argv held."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["valid_text", "valid_utf8"]


def valid_text(text: str) -> str:
    """`text` unchanged when it is valid UTF-8; otherwise with each undecodable byte (a
    surrogate escape from a file name or argv) or lone surrogate written as `\\xNN`/`\\udNNN`."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def valid_utf8(value: Any) -> Any:
    """Apply `valid_text` to every string (and key) in a JSON-like value."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, Mapping):
        return {valid_text(str(k)): valid_utf8(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_utf8(v) for v in value]
    return value
