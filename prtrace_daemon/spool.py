"""The spool: lines appended by git hooks (and, later, shell hooks) without starting Python.

Each writer appends to a file of its own (`<kind>.<pid>.spool`), one line per `write()`. A
drain takes finished files by rename, reads every line, and hands them over in time order;
the caller records each line in the same transaction that marks it done, so a crash at
any point neither loses nor repeats a line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SpoolLine", "parse_line", "release", "take_lines"]


@dataclass(frozen=True, slots=True)
class SpoolLine:
    key: str  # sha256 of the raw line: what marks it done
    kind: str
    ts: str
    repo_path: str
    fields: tuple[str, ...]


def parse_line(raw: bytes) -> SpoolLine | None:
    """A `v1\\tKIND\\tTS\\tREPO\\t…` line, or None for anything else (a torn or foreign line)."""
    text = raw.decode("utf-8", "surrogateescape").rstrip("\n")
    parts = text.split("\t")
    if len(parts) < 4 or parts[0] != "v1" or not parts[1] or not parts[3]:
        return None
    return SpoolLine(hashlib.sha256(raw).hexdigest(), parts[1], parts[2], parts[3], tuple(parts[4:]))


def _writer_alive(name: str) -> bool:
    parts = name.split(".")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_lines(spool: Path) -> tuple[list[SpoolLine], list[Path]]:
    """Claim every finished spool file and return its lines in time order, plus the files to
    release once the lines are recorded. Files whose writer still runs wait for the next drain."""
    taken: list[Path] = []
    try:
        names = sorted(os.listdir(spool))
    except FileNotFoundError:
        return [], []
    for name in names:
        path = spool / name
        if name.endswith(".draining"):
            taken.append(path)  # left by a drain that died: its lines are claimed or not, either way safe
        elif name.endswith(".spool") and (name.startswith("hook.") or not _writer_alive(name)):
            # A git hook writes its one line before it runs the user's hook, which may take
            # long (the same pid, by exec): its file is complete once the line is.
            claimed = spool / f"{name}.draining"
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue
            taken.append(claimed)
    lines: list[SpoolLine] = []
    for path in taken:
        try:
            raw_lines = path.read_bytes().splitlines(keepends=True)
        except OSError:
            continue
        for raw in raw_lines:
            if raw.endswith(b"\n") and (line := parse_line(raw)) is not None:
                lines.append(line)
    lines.sort(key=lambda line: line.ts)
    return lines, taken


def release(files: list[Path]) -> None:
    """Remove drained files (their lines are recorded and marked done)."""
    for path in files:
        path.unlink(missing_ok=True)
