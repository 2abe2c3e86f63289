"""A trace's envelope and whole-trace JSON as the local buffer knows them."""

from __future__ import annotations

import platform
from typing import Any

from prtrace_core import __version__
from prtrace_core.timeline import derive_timeline
from prtrace_daemon.buffer import Buffer, TraceRow

__all__ = ["envelope", "local_trace"]


def envelope(buffer: Buffer, trace: TraceRow) -> dict[str, Any]:
    """trace_id, repo, pr, developer — what every batch of the trace carries."""
    return {
        "trace_id": trace.trace_id,
        "repo": {"name": trace.repo_name, "branch": trace.branch, "language": trace.languages},
        "pr": trace.pr,
        "developer": {
            "user_id": buffer.developer_id(),
            "ide_version": f"prtrace {__version__}",
            "os": f"{platform.system()} {platform.release()}".strip(),
        },
    }


def local_trace(buffer: Buffer, trace: TraceRow) -> dict[str, Any]:
    """The whole trace JSON from the buffer, events in seq order with their local push state."""
    events = buffer.events(trace.trace_id)
    return {**envelope(buffer, trace), "timeline": derive_timeline(events), "events": events}
