"""Which folders of a repo to watch, and how, so generated trees are never walked.

inotify needs a watch per folder, and a recursive watch walks everything below it. So the
plan watches each maximal subtree that holds nothing to prune recursively, and the folders
above a pruned one on their own (non-recursively). `node_modules/`, `.venv/` or a git-ignored
`build/` then cost nothing: not a watch, not a directory listing.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from prtrace_daemon.edits import GENERATED_DIRS as ALWAYS_PRUNED

__all__ = ["ALWAYS_PRUNED", "Watch", "plan_watches"]

@dataclass(frozen=True, slots=True)
class Watch:
    path: Path
    recursive: bool


def plan_watches(root: Path, ignored: Collection[str] = ()) -> list[Watch]:
    """Watches covering every folder of `root` except pruned ones (ALWAYS_PRUNED by name, and
    `ignored`: paths relative to root, as `git ls-files -o -i --directory` lists them)."""
    pruned = {root / p for p in ignored}
    watches: list[Watch] = []

    def walk(folder: Path) -> bool:
        """Plan `folder`; True when nothing below it is pruned (a recursive watch may cover it)."""
        try:
            entries = [e for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return True  # unreadable or gone: nothing below it to prune
        clean_children: list[Path] = []
        clean = True
        for entry in entries:
            child = Path(entry.path)
            if entry.name in ALWAYS_PRUNED or child in pruned:
                clean = False
            elif walk(child):
                clean_children.append(child)
            else:
                clean = False
        if not clean:
            watches.append(Watch(folder, recursive=False))
            watches.extend(Watch(child, recursive=True) for child in clean_children)
        return clean

    if walk(root):
        watches.append(Watch(root, recursive=True))
    return watches
