"""The values a request names, checked before any source sees them.

Each function answers the value a route uses, or raises `BadRequest` with a sentence the page
shows: a malformed id, seq or filter is the reader's mistake (400), never a traceback or a 500,
and a source is only ever handed values of the shape it expects.
"""

from __future__ import annotations

import re
from typing import Any

from prtrace_core.schema import UUID_RE

from .source import BadRequest

__all__ = [
    "cursor",
    "event_ref",
    "event_type",
    "is_event_id",
    "optional_seq",
    "pr_id_parts",
    "pr_route",
    "query_filter",
    "replay_path",
    "required_seq",
    "trace_id",
]

_FILTER_MAX = 512  # characters of one filter value
_PATH_MAX = 4096  # characters of a file path in the replay

_SEQ = re.compile(r"^[0-9]{1,15}\Z")
_EVENT_REF = re.compile(r"^(?:[0-9a-f]{64}|i[0-9]{1,9})\Z")
_EVENT_ID = re.compile(r"^[0-9a-f]{64}\Z")
_TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}\Z")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z")  # a GitHub owner or repository name
_NUMBER = re.compile(r"^[0-9]{1,9}\Z")
_PR_ID = re.compile(r"^([^/\s#]+)/([^/\s#]+)#([0-9]{1,9})\Z")


def trace_id(value: str) -> str:
    if not UUID_RE.match(value):
        raise BadRequest("that is not a trace id (a lower-case UUID)")
    return value


def optional_seq(value: str | None, name: str) -> int | None:
    """A seq number, or None when the parameter is absent or empty."""
    if value is None or value == "":
        return None
    return required_seq(value, name)


def required_seq(value: str | None, name: str) -> int:
    if value is None or value == "":
        raise BadRequest(f"{name} is required: a seq number")
    if not _SEQ.match(value):
        raise BadRequest(f"{name} must be a seq number (0 or more), not {value[:32]!r}")
    return int(value)


def event_type(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _TYPE.match(value):
        raise BadRequest("type must be an event type such as edit or test")
    return value


def event_ref(value: str) -> str:
    """How the detail route names an event: its 64-hex id, or `i<N>` for the Nth event."""
    if not _EVENT_REF.match(value):
        raise BadRequest("an event is named by its 64-hex id, or i<N> for the Nth event")
    return value


def is_event_id(value: Any) -> bool:
    """Whether a recorded event id is one the detail route accepts as it is."""
    return isinstance(value, str) and _EVENT_ID.match(value) is not None


def query_filter(value: str, name: str) -> str | None:
    """One of the list's filters: stripped, None when empty, refused when absurdly long."""
    value = value.strip()
    if len(value) > _FILTER_MAX:
        raise BadRequest(f"the {name} filter is too long")
    return value or None


def cursor(value: str | None) -> str | None:
    """The list's page cursor: opaque to the viewer, but never longer than one it gave."""
    if not value:
        return None
    if len(value) > _FILTER_MAX:
        raise BadRequest("that page cursor is not one this list gave")
    return value


def pr_route(owner: str, repo: str, number: str) -> tuple[str, str, int]:
    """The PR page's path parts: GitHub-shaped names and a whole number."""
    if not (_NAME.match(owner) and _NAME.match(repo) and owner not in (".", "..") and repo not in (".", "..")):
        raise BadRequest("a pull request is named by owner/repo and a number")
    if not _NUMBER.match(number):
        raise BadRequest("a pull request number is a positive whole number")
    return owner, repo, int(number)


def pr_id_parts(pr_id: Any) -> tuple[str, str, str] | None:
    """The owner, repository and number of a recorded `owner/repo#N`, when the names are ones
    the PR route accepts; None for anything else."""
    match = _PR_ID.match(pr_id) if isinstance(pr_id, str) else None
    if match is None or not (_NAME.match(match[1]) and _NAME.match(match[2])):
        return None
    return match[1], match[2], match[3]


def replay_path(value: str) -> str:
    """A file path for the replay: the sources look it up, never the file system."""
    if not value or len(value) > _PATH_MAX or "\x00" in value:
        raise BadRequest("path must name a file of the trace")
    return value
