"""Text that can be stored: valid UTF-8 everywhere, whatever the file system or argv held;
and text that can be shown: nothing a terminal would take as a command.

A trace holds what others wrote — file names, commit messages, command output, a server's
error text — so anything printed from one is first made `printable`, and JSON printed on
stdout is made `json_printable`: an escape sequence in a commit message must never retitle
the window, write the clipboard (OSC 52) or clear the screen of the person reading it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["json_printable", "printable", "valid_text", "valid_utf8"]

# C0 controls but tab and newline, DEL, and the C1 controls (8-bit CSI 0x9b, OSC 0x9d, …,
# which a UTF-8 terminal may act on as well): deleted by str.translate.
_CONTROLS: dict[int, None] = dict.fromkeys([*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])
_ONE_LINE: dict[int, str | None] = {**_CONTROLS, 0x09: " ", 0x0A: " "}
# A whole CSI sequence (colours, cursor moves) goes at once: command output is full of them,
# and `[32m` left behind would only be noise. Other sequences lose their control characters
# and stay visible as text (an OSC 52 payload shows as `]52;c;…`), so an attempt is seen.
_CSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]")
_JSON_CONTROLS = re.compile("[\x7f-\x9f]")


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


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` safe to write to a terminal: CSI sequences removed whole, every other C0/C1
    control character (and DEL) removed, bytes that are not UTF-8 shown as `\\xNN`. Newline
    and tab stay, for layout, unless `one_line`, which makes them spaces."""
    text = valid_text(text)
    if text.isprintable():  # the common case: nothing to do
        return text
    text = _CSI.sub("", text)
    return text.translate(_ONE_LINE if one_line else _CONTROLS)


def json_printable(text: str) -> str:
    """JSON text with DEL and the C1 controls written as `\\u00XX` escapes. JSON encoders
    escape C0 controls already but emit these raw, and a terminal may act on them; the escaped
    form decodes to the same value."""
    return _JSON_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
