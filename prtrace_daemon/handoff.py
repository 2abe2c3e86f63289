"""Handing an event to the running daemon through the spool, so `note` and `run` pay for no scan.

The work tree scan that puts the edits made before an event ahead of it costs tens of
milliseconds of git and file stats; a running daemon does it instead, when it drains the
line, off the developer's critical path. With no daemon, the caller records in process.
Paths are strings here: this runs before pathlib is loaded.
"""

from __future__ import annotations

import json
import os

from prtrace_daemon.paths import REPOS, SPOOL
from prtrace_daemon.process import daemon_alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HANDOFF", "hand_off", "handoff_root"]

HANDOFF = "event"  # the spool line's kind: `v1\tevent\tTS\tREPO\tTYPE\tJSON`


def handoff_root(home_root: str, cwd: str) -> str | None:
    """The registered repo holding `cwd` when a daemon runs to take the event; else None."""
    try:
        with open(os.path.join(home_root, REPOS), encoding="utf-8") as listing:
            roots = listing.read().splitlines()
    except OSError:
        return None
    inside = [root for root in roots if root and (cwd == root or cwd.startswith(root.rstrip("/") + "/"))]
    if not inside or not daemon_alive(home_root):
        return None
    return max(inside, key=len)


def hand_off(home_root: str, root: str, type: str, payload: dict[str, Any], ts: str) -> None:
    """Append the event's one line to this process's spool file (raises OSError when it can't)."""
    line = b"\t".join([b"v1", HANDOFF.encode(), ts.encode(), os.fsencode(root), type.encode(), json.dumps(payload).encode()])
    path = os.path.join(home_root, SPOOL, f"cli.{os.getpid()}.spool")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line + b"\n")
    finally:
        os.close(fd)
