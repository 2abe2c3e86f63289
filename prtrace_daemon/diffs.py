"""From two versions of a file to an `edit` payload. Pure: bytes in, dict out."""

from __future__ import annotations

import difflib
from typing import Any

from prtrace_core.redact import Redactor
from prtrace_core.text import valid_text

__all__ = ["DIFF_CAP", "FILE_CAP", "SNIPPET_CAP", "edit_payload", "is_binary", "redact_content", "withheld_payload"]

FILE_CAP = 1024 * 1024  # a file over this gets an edit with hashes but no diff
DIFF_CAP = 192 * 1024  # below the server's 256 KiB per event
SNIPPET_CAP = 2048


def is_binary(content: bytes) -> bool:
    """git's rule: a NUL in the first 8,000 bytes."""
    return b"\0" in content[:8000]


def redact_content(redactor: Redactor, content: bytes) -> bytes:
    """The content as capture may keep it: every secret replaced, whole file at once (a secret
    on a line no diff touches is gone too). Bytes that are not UTF-8 pass through unchanged.
    A file over FILE_CAP is returned as it is: it is never diffed nor cached."""
    if len(content) > FILE_CAP:
        return content
    text = content.decode("utf-8", "surrogateescape")
    clean = redactor.text(text)
    return content if clean == text else clean.encode("utf-8", "surrogateescape")


def withheld_payload(path: str, *, op: str, old_file: str | None = None, mode: str | None = None) -> dict[str, Any]:
    """The `edit` payload of a withheld file (a secret by name, or in .prtraceignore): that it
    changed, and how, with no content, no diff and no blob ids."""
    payload: dict[str, Any] = {"file": path, "op": op, "withheld": True, "change_summary": "+0/-0"}
    if old_file is not None:
        payload["old_file"] = old_file
    if mode is not None and op != "delete":
        payload["mode"] = mode
    return payload


def _lines(content: bytes | None) -> list[str]:
    if not content:
        return []
    # Non-UTF-8 text still diffs; undecodable bytes become U+FFFD (hashes use the raw bytes).
    return content.decode("utf-8", "replace").splitlines(keepends=True)


def _cut(text: str, limit: int) -> tuple[str, bool]:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, False
    cut = encoded[:limit].decode("utf-8", "ignore")
    return cut[: cut.rfind("\n") + 1] or cut, True


def edit_payload(
    path: str,
    before: bytes | None,
    after: bytes | None,
    *,
    before_sha: str | None,
    after_sha: str | None,
    op: str,
    old_file: str | None = None,
    mode: str | None = None,
    redacted: bool = False,
) -> dict[str, Any]:
    """The `edit` payload for `before` → `after` (None means absent: create or delete).

    `mode` is git's mode of the file after the edit (left out of a delete). A binary side gets
    no diff, only the blob ids (a replay takes the content by `after_sha`); so does a modify
    whose content is unchanged: only the mode changed. `redacted`: the contents given are the
    redactor's, not the blobs' own, so the diff is marked `diff_redacted` (it does not apply to
    the real file: a replay takes the content by `after_sha` instead).
    """
    payload: dict[str, Any] = {"file": path, "op": op}
    if old_file is not None:
        payload["old_file"] = old_file
    payload["before_sha"] = before_sha
    payload["after_sha"] = after_sha
    if mode is not None and op != "delete":
        payload["mode"] = mode
    if (before is not None and is_binary(before)) or (after is not None and is_binary(after)):
        payload["binary"] = True
        payload["change_summary"] = "+0/-0"
        return payload
    if op == "modify" and before is not None and before == after:
        payload["change_summary"] = "+0/-0"
        return payload
    if max(len(before or b""), len(after or b"")) > FILE_CAP:
        payload["change_summary"] = "+0/-0"
        payload["diff_omitted"] = "size"
        return payload
    old_name = f"a/{valid_text(old_file or path)}" if before is not None else "/dev/null"
    new_name = f"b/{valid_text(path)}" if after is not None else "/dev/null"
    added = removed = 0
    lines: list[str] = []
    for line in difflib.unified_diff(_lines(before), _lines(after), old_name, new_name, n=3):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        lines.append(line)
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    diff = "".join(lines)
    payload["change_summary"] = f"+{added}/-{removed}"
    hunk_starts = [i for i, line in enumerate(lines) if line.startswith("@@")]
    if hunk_starts:
        end = hunk_starts[1] if len(hunk_starts) > 1 else len(lines)
        payload["diff_snippet"] = _cut("".join(lines[hunk_starts[0] : end]), SNIPPET_CAP)[0]
    payload["diff"], truncated = _cut(diff, DIFF_CAP)
    if truncated:
        payload["diff_truncated"] = True
    if redacted:
        payload["diff_redacted"] = True
    return payload
