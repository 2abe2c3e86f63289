"""The trace and its events as pydantic models.

The models say what a valid event is; they never rewrite one. An event's id is computed from
the event as it travels, so validation checks the raw dict and the dict is what gets stored.
Every model allows extra fields: a newer client may send more than this version knows, and
unknown event types are kept as they are.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from prtrace_core.timestamps import parse_ts

__all__ = [
    "EVENT_TYPES",
    "PAYLOAD_MODELS",
    "Actor",
    "AnnotationPayload",
    "Batch",
    "CheckoutPayload",
    "CiPayload",
    "CommandPayload",
    "CommitPayload",
    "Developer",
    "EditPayload",
    "Envelope",
    "Event",
    "MergePayload",
    "PullRequest",
    "PushPayload",
    "PushRef",
    "Repo",
    "RewritePayload",
    "ShaMapping",
    "StartPayload",
    "TestPayload",
    "Timeline",
    "Trace",
    "TraceId",
]

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _uuid_text(value: str) -> str:
    # Lower-case canonical form only: the id names objects and rows, so one spelling per trace.
    if not UUID_RE.match(value):
        raise ValueError("must be a lower-case UUID like 0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10")
    return value


def _timestamp(value: str) -> str:
    parse_ts(value)
    return value


TraceId = Annotated[StrictStr, AfterValidator(_uuid_text)]
Timestamp = Annotated[StrictStr, AfterValidator(_timestamp)]
Count = Annotated[StrictInt, Field(ge=0)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Repo(_Open):
    """Which repository and branch the trace records."""

    name: StrictStr = Field(min_length=1, max_length=512, description="owner/repo, or the folder name")
    branch: StrictStr = Field(min_length=1, max_length=1024)
    language: list[StrictStr] = Field(default_factory=list)


class PullRequest(_Open):
    """The pull request a trace belongs to, once known."""

    pr_id: StrictStr = Field(pattern=r"^[^\s#]+/[^\s#]+#\d+$", description="owner/repo#N")
    title: StrictStr | None = None
    status: Literal["open", "merged", "closed"] | None = None
    created_at: Timestamp | None = None
    merged_at: Timestamp | None = None


class Developer(_Open):
    """Who records; it describes, it does not authorize."""

    user_id: StrictStr = Field(min_length=1, max_length=128)
    ide_version: StrictStr | None = None
    os: StrictStr | None = None


class Timeline(BaseModel):
    """Derived from the events' timestamps."""

    start_time: StrictStr | None = None
    end_time: StrictStr | None = None
    duration_seconds: float | None = None


class Actor(_Open):
    """Who did it: the developer, a coding agent, or a tool."""

    kind: Literal["human", "agent", "tool"]
    name: StrictStr | None = None
    session: StrictStr | None = Field(default=None, description="the agent's session id")
    model: StrictStr | None = Field(default=None, description="the model the agent ran on")
    subagent: StrictStr | None = Field(
        default=None, description="the subagent's type, when a subagent made the call"
    )


class Event(_Open):
    """One thing that happened, as it travels in a batch."""

    seq: Annotated[StrictInt, Field(ge=1)] | None = Field(
        default=None, description="per-trace order given by the client's buffer; absent: the server assigns one"
    )
    ts: Timestamp = Field(description="UTC ISO 8601 with milliseconds, e.g. 2026-11-24T19:06:57.123Z")
    type: StrictStr = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    payload: dict[str, Any]
    actor: Actor | None = None
    event_id: StrictStr | None = Field(default=None, description="ignored on input; the server recomputes it")


class Envelope(_Open):
    """What a batch says about its trace."""

    trace_id: TraceId
    repo: Repo
    pr: PullRequest | None = None
    developer: Developer


class Batch(Envelope):
    """`POST /v1/batches`: a trace envelope and up to 1,000 events."""

    events: list[Event] = Field(max_length=1000)


class Trace(Envelope):
    """A whole trace as readers get it."""

    timeline: Timeline
    events: list[dict[str, Any]]


# Payloads. Required fields are those a reader cannot do without; the rest are optional.


class StartPayload(_Open):
    """Seq 1 of every trace: the tree capture began from."""

    head_sha: StrictStr | None = Field(description="HEAD when capture began; null in a repo with no commit yet")
    branch: StrictStr
    dirty: list[dict[str, Any]] = Field(default_factory=list)


class EditPayload(_Open):
    """One file changed, created, deleted or renamed."""

    file: StrictStr = Field(min_length=1)
    change_summary: StrictStr = Field(pattern=r"^\+\d+/-\d+$")
    diff_snippet: StrictStr | None = None
    diff: StrictStr | None = None
    diff_truncated: StrictBool | None = None
    diff_omitted: StrictStr | None = None
    before_sha: StrictStr | None = None
    after_sha: StrictStr | None = None
    op: Literal["modify", "create", "delete", "rename"] | None = None
    old_file: StrictStr | None = None
    # git's mode of the file after the edit ("100644", "100755"; "120000" a symlink from a
    # commit's tree); absent on a delete and in traces from before it was recorded.
    mode: StrictStr | None = Field(default=None, pattern=r"^[0-7]{6}$")
    binary: StrictBool | None = None  # binary content: no diff, the content is the blob `after_sha`
    diff_redacted: StrictBool | None = None  # the redactor changed the diff: it no longer applies as is
    # A file capture never reads (a secret by name, `.env*`, `*.pem`…, or in .prtraceignore): the
    # edit says only that it changed and how (op, old_file, mode), with no content, diff or blob
    # ids; a replay has its content only where git does (a commit that holds it).
    withheld: StrictBool | None = None


class CommandPayload(_Open):
    """A shell command and how it ended."""

    command: StrictStr
    exit_code: StrictInt
    stdout_sample: StrictStr | None = None
    duration_ms: Count | None = None
    cwd: StrictStr | None = None


class TestPayload(_Open):
    """A test run and its results."""

    __test__ = False  # not a pytest test class

    command: StrictStr
    exit_code: StrictInt
    framework: StrictStr
    passed: Count | None = None
    failed: Count | None = None
    skipped: Count | None = None
    errors: Count | None = None
    failed_tests: list[StrictStr] = Field(default_factory=list)
    duration_ms: Count | None = None


class CommitPayload(_Open):
    """A commit made on the branch."""

    sha: StrictStr = Field(min_length=4)
    message: StrictStr
    files_changed: Count
    files: list[StrictStr] | None = None
    insertions: Count | None = None
    deletions: Count | None = None
    parents: list[StrictStr] | None = None
    branch: StrictStr | None = None


class PushRef(_Open):
    local_ref: StrictStr
    local_sha: StrictStr
    remote_ref: StrictStr
    remote_sha: StrictStr


class PushPayload(_Open):
    """A `git push`, from pre-push."""

    remote: StrictStr | None = None
    refs: list[PushRef] = Field(default_factory=list)


class CheckoutPayload(_Open):
    """A branch switch."""

    from_branch: StrictStr | None = None
    to_branch: StrictStr | None = None
    from_sha: StrictStr | None = None
    to_sha: StrictStr | None = None


class ShaMapping(_Open):
    old_sha: StrictStr
    new_sha: StrictStr


class RewritePayload(_Open):
    """An amend or a rebase, from post-rewrite."""

    kind: StrictStr
    mappings: list[ShaMapping]


class MergePayload(_Open):
    """A merge, from post-merge."""

    sha: StrictStr | None = None
    squash: StrictBool | None = None
    branch: StrictStr | None = None


class AnnotationPayload(_Open):
    """The developer's own note."""

    text: StrictStr = Field(min_length=1)


class CiPayload(_Open):
    """A CI run, from a webhook."""

    provider: StrictStr | None = None
    name: StrictStr | None = None
    status: StrictStr | None = None
    conclusion: StrictStr | None = None
    url: StrictStr | None = None
    head_sha: StrictStr | None = None


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "start": StartPayload,
    "edit": EditPayload,
    "command": CommandPayload,
    "test": TestPayload,
    "commit": CommitPayload,
    "push": PushPayload,
    "checkout": CheckoutPayload,
    "rewrite": RewritePayload,
    "merge": MergePayload,
    "annotation": AnnotationPayload,
    "ci": CiPayload,
}

EVENT_TYPES = tuple(PAYLOAD_MODELS)

