"""Replaying a trace onto disk: the work tree as it was right after one of its events.

The tree is written into a temporary folder beside the destination and renamed into place at
the end, so a failure (a file nobody has, a full disk) leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_core.gitblob import EXECUTABLE, SYMLINK
from prtrace_core.replay import Replayer, Sources, effective_events

__all__ = ["NotReplayable", "ReplayTargetError", "Written", "replay", "write_tree"]


class ReplayTargetError(PrtraceError):
    """The replay cannot be written where it was asked to go, or to the seq asked for."""


class NotReplayable(PrtraceError):
    """Some files' content at that point is in neither the trace nor the repository."""


@dataclass(frozen=True, slots=True)
class Written:
    files: int
    skipped: dict[str, int]  # not replayable: path -> the seq whose content is lost


def replay(trace: Mapping[str, Any], sources: Sources, at: int | None = None) -> tuple[Replayer, int]:
    """Apply the trace's events up to seq `at` (default: the last); (replayer, seq reached)."""
    events = effective_events(trace.get("events") or [])
    if not events:
        raise ReplayTargetError("the trace has no events to replay")
    last = int(events[-1]["seq"])
    if at is not None and (at < 1 or at > last):
        raise ReplayTargetError(f"seq {at} is not in the trace (its seqs run 1..{last})")
    first = events[0]
    if first.get("type") != "start":
        raise ReplayTargetError(
            f"the trace's first event (seq {first.get('seq')}) is not its start event, so there is no tree to begin from",
            hint="`prtrace verify REF` says what else is missing",
        )
    replayer = Replayer(sources)
    for event in events:
        if at is not None and int(event["seq"]) > at:
            break
        replayer.apply(event)
    return replayer, at or last


def _check_destination(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise ReplayTargetError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()):
        raise ReplayTargetError(f"{dest} exists and is not empty", hint="name a new folder, or empty this one")


def write_tree(replayer: Replayer, dest: Path, *, partial: bool = False) -> Written:
    """Write the replayed tree to `dest` (a new or empty folder). NotReplayable, writing nothing,
    when some file's content cannot be had, unless `partial`, which leaves those files out."""
    _check_destination(dest)
    files = list(replayer.tree())
    lost = {path: replayer.unreplayable.get(path, 0) for path, _mode, content in files if content is None}
    if lost and not partial:
        shown = ", ".join(f"{path} (seq {seq})" if seq else path for path, seq in list(lost.items())[:10])
        more = f" and {len(lost) - 10} more" if len(lost) > 10 else ""
        withheld = sum(1 for path in lost if replayer.files[path].withheld)
        if withheld == len(lost):
            why = "they are withheld from capture (secrets: never recorded)"
        elif withheld:
            why = (f"{withheld} of them withheld from capture (secrets: never recorded), the rest with diffs "
                   "redacted, truncated or left out")
        else:
            why = "their diffs were redacted, truncated or left out"
        raise NotReplayable(
            f"{len(lost)} file(s) cannot be replayed: {shown}{more}; {why}, and the repository does not have "
            "their content",
            hint="--partial writes the rest; fetching the commits that hold them may help",
        )
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.replay-", dir=parent))
    except OSError as exc:
        raise ReplayTargetError(f"cannot write in {parent}: {exc.strerror or exc}") from exc
    try:
        written = 0
        for path, mode, content in files:
            if content is None:
                continue
            target = tmp / path
            if not target.resolve().is_relative_to(tmp.resolve()):
                continue  # a path that climbs out ("../x") is no file of this tree
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode == SYMLINK:
                os.symlink(os.fsdecode(content), target)
            else:
                target.write_bytes(content)
                os.chmod(target, 0o755 if mode == EXECUTABLE else 0o644)
            written += 1
        if dest.is_dir():
            dest.rmdir()  # empty, checked above
        os.rename(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ReplayTargetError(f"cannot write the replay to {dest}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Written(written, lost)
