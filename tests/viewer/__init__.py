"""Traces built by hand for the viewer's tests: events as capture writes them (diffs made the
way capture makes them, blob ids git's own), and an in-memory repository for replay."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from typing import Any

from prtrace_core.gitblob import blob_sha
from prtrace_core.timestamps import format_ts

T0 = datetime(2026, 11, 24, 19, 0, 0, tzinfo=UTC)
TRACE_A = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
TRACE_B = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
TRACE_C = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60"
HUMAN = {"kind": "human"}
AGENT = {"kind": "agent", "name": "claude-code", "model": "opus", "session": "s-1"}


def ts(seconds: float) -> str:
    """A trace timestamp `seconds` after T0."""
    return format_ts(T0 + timedelta(seconds=seconds))


def event(seq: int | None, kind: str, payload: dict[str, Any], *, at: float | None = None,
          actor: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"seq": seq, "ts": ts(at if at is not None else seq or 0), "type": kind,
                           "payload": payload}
    if actor is not None:
        out["actor"] = actor
    return out


def _lines(content: bytes | None) -> list[str]:
    return content.decode("utf-8", "replace").splitlines(keepends=True) if content else []


def edit_payload(path: str, before: bytes | None, after: bytes | None, *, op: str | None = None,
                 old_file: str | None = None) -> dict[str, Any]:
    """An edit's payload from two versions of a file (None: absent), as capture writes it."""
    op = op or ("create" if before is None else "delete" if after is None else "modify")
    payload: dict[str, Any] = {
        "file": path, "op": op,
        "before_sha": blob_sha(before) if before is not None else None,
        "after_sha": blob_sha(after) if after is not None else None,
    }
    if old_file is not None:
        payload["old_file"] = old_file
    if (before is not None and b"\0" in before) or (after is not None and b"\0" in after):
        return {**payload, "binary": True, "change_summary": "+0/-0"}
    old_name = f"a/{old_file or path}" if before is not None else "/dev/null"
    new_name = f"b/{path}" if after is not None else "/dev/null"
    lines = []
    for line in difflib.unified_diff(_lines(before), _lines(after), old_name, new_name, n=3):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    return {**payload, "change_summary": f"+{added}/-{removed}", "diff": "".join(lines)}


class MemoryRepo:
    """A repository's objects in memory: blobs by id and commits' trees."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, tuple[str, str]]] = {}

    def add_blob(self, data: bytes) -> str:
        sha = blob_sha(data)
        self.blobs[sha] = data
        return sha

    def commit(self, sha: str, files: dict[str, bytes]) -> None:
        self.trees[sha] = {path: ("100644", self.add_blob(data)) for path, data in files.items()}

    def blob(self, sha: str) -> bytes | None:
        return self.blobs.get(sha)

    def tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        return self.trees.get(commit)

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None] | None:
        tree = self.trees.get(commit)
        if tree is None:
            return None
        return {path: tree[path][1] if path in tree else None for path in paths}


def trace_document(trace_id: str, events: list[dict[str, Any]], *, repo: str = "acme/app",
                   branch: str = "main", pr: str | None = None, user: str = "dev") -> dict[str, Any]:
    """A trace as `prtrace show --json` gives it."""
    return {
        "trace_id": trace_id,
        "repo": {"name": repo, "branch": branch, "language": ["python"]},
        "pr": {"pr_id": pr, "title": f"PR {pr}", "status": "open"} if pr else None,
        "developer": {"user_id": user},
        "events": events,
    }
