"""The REF a reading command takes: a trace id, a PR (`PR-123`, `123`, `owner/repo#123`), a
trace JSON file, or a branch. Parsing is pure; resolving it is the caller's job."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from prtrace_core.schema import UUID_RE

__all__ = ["BranchRef", "FileRef", "PrRef", "Ref", "TraceRef", "parse_ref"]


@dataclass(frozen=True, slots=True)
class TraceRef:
    trace_id: str


@dataclass(frozen=True, slots=True)
class PrRef:
    number: int
    repo: str | None  # owner/repo; None means "the current repository"

    def pr_id(self, default_repo: str) -> str:
        return f"{self.repo or default_repo}#{self.number}"


@dataclass(frozen=True, slots=True)
class FileRef:
    path: Path


@dataclass(frozen=True, slots=True)
class BranchRef:
    branch: str


Ref = TraceRef | PrRef | FileRef | BranchRef

_TRACE_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")
_PR_FULL = re.compile(r"^(?P<repo>[^\s#/]+/[^\s#/]+)#(?P<num>\d+)$")
_PR_SHORT = re.compile(r"^(?:(?:PR|pr)-?|#)?(?P<num>\d+)$")


def parse_ref(text: str) -> Ref:
    """Classify REF. A name ending in `.json`, `.jsonl` or `.ndjson`, or a path to a file,
    is a trace file (a branch of that name would be unusual; `refs/heads/NAME` still names it)."""
    text = text.strip()
    if UUID_RE.match(text.lower()):
        return TraceRef(text.lower())
    if match := _PR_FULL.match(text):
        return PrRef(int(match["num"]), match["repo"])
    if match := _PR_SHORT.match(text):
        return PrRef(int(match["num"]), None)
    if text.startswith("refs/heads/"):
        return BranchRef(text.removeprefix("refs/heads/"))
    if text.endswith(_TRACE_FILE_SUFFIXES) or ("/" in text and Path(text).is_file()):
        return FileRef(Path(text))
    return BranchRef(text)
