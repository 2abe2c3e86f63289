"""What a GitHub webhook delivery says, read from GitHub's own payload shapes. Pure.

Only a handful of fields are read (docs/webhooks.md lists them); everything else in a payload
is ignored, and a field missing where GitHub always sends it makes the delivery a
`BadWebhook` naming the field, which GitHub shows in the hook's delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prtrace_core.canonical import canonical_json
from prtrace_core.timestamps import format_ts, parse_ts

from .errors import InvalidBatch

__all__ = [
    "CI_EVENTS",
    "BadWebhook",
    "CiRun",
    "PullRequest",
    "ci_run",
    "pull_request",
    "signature_ok",
    "valid_repo_name",
]

# The deliveries that become `ci` events.
CI_EVENTS = ("check_run", "check_suite", "workflow_run")
# owner/repo as GitHub allows it: what an object key and a PR id may be built from.
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_TEXT_MAX = 1024  # names and titles the index keeps; GitHub's own limits are lower


class BadWebhook(InvalidBatch):
    """A signed delivery without a field GitHub always sends."""


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request as GitHub last described it."""

    repo_name: str  # the base repository, owner/repo
    number: int
    title: str
    status: str  # open, closed or merged
    head_repo: str  # the repository the head branch lives in (a fork, or repo_name)
    head_branch: str
    updated_at: str  # GitHub's; an older delivery never overwrites a newer one
    head_sha: str | None = None
    url: str | None = None
    created_at: str | None = None
    merged_at: str | None = None
    closed_at: str | None = None

    @property
    def pr_id(self) -> str:
        return f"{self.repo_name}#{self.number}"

    def envelope_pr(self) -> dict[str, Any]:
        """The trace envelope's `pr` block (DESIGN §3) for this pull request."""
        pr: dict[str, Any] = {"pr_id": self.pr_id, "title": self.title, "status": self.status}
        if self.created_at:
            pr["created_at"] = self.created_at
        if self.merged_at:
            pr["merged_at"] = self.merged_at
        if self.url:
            pr["url"] = self.url
        return pr


@dataclass(frozen=True, slots=True)
class CiRun:
    """One CI state change: the `ci` event every matching trace gets (ts, payload)."""

    repo_name: str
    head_repo: str
    head_branch: str | None
    head_sha: str | None
    ts: str
    payload: dict[str, Any]
    pr_numbers: list[int] = field(default_factory=list)

    @property
    def ci_id(self) -> str:
        """Same state change, same id: a redelivery or a second kind of hook adds nothing."""
        return hashlib.sha256(canonical_json({"ts": self.ts, "payload": self.payload})).hexdigest()

    def event(self) -> dict[str, Any]:
        """The event as a trace holds it (DESIGN §3): no seq, made by the server."""
        return {"seq": None, "ts": self.ts, "type": "ci", "payload": self.payload}


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body under the secret."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii", "replace"))


def valid_repo_name(name: object) -> bool:
    """owner/repo in GitHub's alphabet, nothing that could climb out of an object key."""
    return isinstance(name, str) and bool(_REPO.match(name)) and ".." not in name.split("/")


def pull_request(payload: Mapping[str, Any]) -> PullRequest:
    """The pull request a `pull_request` delivery describes."""
    pr = _object(payload, "pull_request")
    repo = _repo(payload, "repository")
    head = _object(pr, "head", "pull_request.head")
    head_name = _sub(head, "repo").get("full_name")  # the repo is null when the fork was deleted
    merged = pr.get("merged") is True or bool(pr.get("merged_at"))
    state = _text(pr, "state", "pull_request.state")
    return PullRequest(
        repo_name=repo,
        number=_number(pr, "number", "pull_request.number"),
        title=_capped(_text(pr, "title", "pull_request.title")),
        status="merged" if merged else ("open" if state == "open" else "closed"),
        head_repo=head_name if isinstance(head_name, str) and valid_repo_name(head_name) else repo,
        head_branch=_capped(_text(head, "ref", "pull_request.head.ref")),
        head_sha=_optional_text(head.get("sha")),
        url=_optional_text(pr.get("html_url")),
        created_at=_ts(pr.get("created_at")),
        merged_at=_ts(pr.get("merged_at")),
        closed_at=_ts(pr.get("closed_at")),
        updated_at=_ts(pr.get("updated_at")) or _ts(pr.get("created_at")) or "",
    )


def ci_run(event: str, payload: Mapping[str, Any], *, received_at: str) -> CiRun:
    """The CI state change a `check_run`, `check_suite` or `workflow_run` delivery reports."""
    repo = _repo(payload, "repository")
    run = _object(payload, event)
    status = _text(run, "status", f"{event}.status")
    conclusion = _optional_text(run.get("conclusion"))
    pulls = run.get("pull_requests")
    extra: dict[str, Any]
    head_name: object = repo
    if event == "check_run":
        suite, app = _sub(run, "check_suite"), _sub(run, "app")
        branch = _optional_text(suite.get("head_branch"))
        name = _optional_text(run.get("name"))
        when = run.get("completed_at") if status == "completed" else run.get("started_at")
        extra = {"app": _optional_text(app.get("name")), "started_at": _ts(run.get("started_at")),
                 "completed_at": _ts(run.get("completed_at"))}
    elif event == "check_suite":
        app = _sub(run, "app")
        branch = _optional_text(run.get("head_branch"))
        name = _optional_text(app.get("name"))
        when = run.get("updated_at") or run.get("created_at")
        extra = {"app": name}
    else:
        workflow = _sub(payload, "workflow")
        branch = _optional_text(run.get("head_branch"))
        name = _optional_text(run.get("name")) or _optional_text(workflow.get("name"))
        if status == "completed":
            when = run.get("updated_at")
        elif status == "in_progress":
            when = run.get("run_started_at") or run.get("updated_at")
        else:
            when = run.get("created_at")
        attempt = run.get("run_attempt")
        extra = {
            "workflow": _optional_text(workflow.get("name")) or name,
            "run_number": _int_or_none(run.get("run_number")),
            # a re-run is a new attempt of the same run: a new event, never a duplicate
            "run_attempt": _int_or_none(attempt) or 1,
            "trigger": _optional_text(run.get("event")),
            "started_at": _ts(run.get("run_started_at")),
        }
        head_name = _sub(run, "head_repository").get("full_name")
    numbers = sorted({n for p in pulls if isinstance(p, Mapping) and (n := _int_or_none(p.get("number")))}
                     ) if isinstance(pulls, list) else []
    payload_out: dict[str, Any] = {
        "provider": "github",
        "kind": event,
        "id": _int_or_none(run.get("id")),
        "name": _capped(name or event),
        "status": status,
        "conclusion": conclusion,
        "url": _optional_text(run.get("html_url")) or _optional_text(run.get("details_url")),
        "head_sha": _optional_text(run.get("head_sha")),
        "head_branch": branch,
        "pull_requests": numbers,
        **extra,
    }
    return CiRun(
        repo_name=repo,
        head_repo=head_name if isinstance(head_name, str) and valid_repo_name(head_name) else repo,
        head_branch=branch,
        head_sha=payload_out["head_sha"],
        ts=_ts(when) or received_at,
        payload={key: value for key, value in payload_out.items() if value is not None},
        pr_numbers=numbers,
    )


def _object(payload: Mapping[str, Any], key: str, where: str | None = None) -> Mapping[str, Any]:
    value = payload.get(key)
    if not isinstance(value, Mapping):
        raise BadWebhook(f"{where or key}: GitHub always sends an object here")
    return value


def _sub(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An optional object of the payload, empty when absent or null."""
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def _repo(payload: Mapping[str, Any], key: str) -> str:
    name = _object(payload, key).get("full_name")
    if not valid_repo_name(name):
        raise BadWebhook(f"{key}.full_name: expected owner/repo, got {str(name)[:80]!r}")
    assert isinstance(name, str)
    return name


def _text(payload: Mapping[str, Any], key: str, where: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise BadWebhook(f"{where}: GitHub always sends a string here")
    return value.replace("\x00", "")


def _number(payload: Mapping[str, Any], key: str, where: str) -> int:
    value = _int_or_none(payload.get(key))
    if value is None:
        raise BadWebhook(f"{where}: GitHub always sends a positive integer here")
    return value


def _int_or_none(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return None


def _optional_text(value: object) -> str | None:
    return _capped(value.replace("\x00", "")) if isinstance(value, str) and value else None


def _capped(text: str) -> str:
    """At most _TEXT_MAX bytes of UTF-8 (PostgreSQL's btree counts bytes, not characters)."""
    if len(text) * 4 <= _TEXT_MAX:
        return text
    return text.encode("utf-8")[:_TEXT_MAX].decode("utf-8", "ignore")


def _ts(value: object) -> str | None:
    """GitHub's `2020-10-05T16:33:24Z` as the trace's canonical form; None when absent or
    unreadable (a field is described, never trusted to parse)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return format_ts(parse_ts(value))
    except ValueError:
        return None
