"""A trace's line authorship as Agent Trace v0.1 records (https://agent-trace.dev): one record
per commit whose authorship the trace knows, for the tools that read that format.

Authorship comes from two places in a trace: a `commit` event's `authorship` (what capture saw
the developer and the agents write) and `attribution` events (imported from git-ai or Entire).
Both have one shape: `{"actors": [actor, …], "files": {path: {"agent", "human", "unknown",
"ranges": [[start, end, actor index], …]}}}`, the ranges being the lines the commit added. A
commit's own authorship comes first; an import fills in the files it does not cover. A commit
an amend or a rebase replaced gives no record, by the rule `prtrace stats` follows
(`prtrace_core.stats.replaced_commits`): its lines are in the commit that replaced it.

Pure: the caller passes the tool's version and, when the repository is at hand, a way to read
a committed file (for each range's `content_hash`). See docs/agent-trace.md for the mapping.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prtrace_core.stats import replaced_commits

__all__ = ["AGENT_TRACE_VERSION", "authorship_sources", "contributor", "records", "trace_records"]

# The version the spec text names (its header says 0.1.0; the published schema's pattern, which
# escapes the dot twice, rejects it: docs/agent-trace.md says what we do about that).
AGENT_TRACE_VERSION = "0.1.0"

# Record ids are uuid5 of (trace, commit) under this namespace: an export run twice gives the
# same ids, so a reader can tell a record it already has.
_NAMESPACE = uuid.UUID("3c1f6f8e-7a43-4c1e-9d0b-5f2a1e6b8c47")

# models.dev names a model `provider/model`; an agent that only ever runs one provider's models
# lets us add the provider when the model id lacks it.
_PROVIDERS = {"claude-code": "anthropic", "codex": "openai", "gemini": "google"}
_MODEL_ID_MAX = 250  # the schema's maxLength

ContentReader = Callable[[str, str], bytes | None]  # (commit sha, path) -> the committed file


@dataclass(frozen=True, slots=True)
class Source:
    """One statement of a commit's authorship: where from, when recorded, and what it says."""

    sha: str
    origin: str  # "prtrace" (a commit event), or the importer's name ("git-ai", "entire")
    ts: str
    actors: list[Any]
    files: Mapping[str, Any]


def authorship_sources(events: Iterable[Mapping[str, Any]]) -> list[Source]:
    """Every authorship statement in the events, in their order."""
    found: list[Source] = []
    for event in events:
        payload = event.get("payload")
        if not isinstance(payload, Mapping):
            continue
        body: Any
        origin: Any
        if event.get("type") == "commit":
            body, sha, origin = payload.get("authorship"), payload.get("sha"), "prtrace"
        elif event.get("type") == "attribution":
            body, sha, origin = payload, payload.get("commit"), payload.get("source")
        else:
            continue
        if not isinstance(body, Mapping) or not isinstance(sha, str) or not sha:
            continue
        actors, files = body.get("actors"), body.get("files")
        if isinstance(actors, list) and isinstance(files, Mapping):
            found.append(
                Source(sha, str(origin or "unknown"), str(event.get("ts") or ""), actors, files)
            )
    return found


def contributor(actor: object) -> dict[str, str]:
    """An actor as an Agent Trace contributor: `ai` for an agent (with its model as models.dev
    names it, when known), `human`, else `unknown`."""
    if not isinstance(actor, Mapping):
        return {"type": "unknown"}
    kind = actor.get("kind")
    if kind == "human":
        return {"type": "human"}
    if kind != "agent":
        return {"type": "unknown"}
    found: dict[str, str] = {"type": "ai"}
    model = actor.get("model")
    if isinstance(model, str) and model:
        provider = _PROVIDERS.get(str(actor.get("name")))
        if "/" not in model and provider:
            model = f"{provider}/{model}"
        found["model_id"] = model[:_MODEL_ID_MAX]
    return found


def _wanted(actor: object, kind: str | None) -> bool:
    return kind is None or (isinstance(actor, Mapping) and actor.get("kind") == kind)


def _ranges(entry: Mapping[str, Any], actor_count: int) -> dict[int, list[tuple[int, int]]]:
    """The entry's ranges grouped by actor index; a malformed range is left out."""
    grouped: dict[int, list[tuple[int, int]]] = {}
    for item in entry.get("ranges") or []:
        if not (
            isinstance(item, list | tuple) and len(item) == 3 and all(type(v) is int for v in item)
        ):
            continue
        start, end, index = item
        if 1 <= start <= end and 0 <= index < actor_count:
            grouped.setdefault(index, []).append((start, end))
    for index in entry.get("actors") or []:  # actors known to have touched the file, lines unknown
        if type(index) is int and 0 <= index < actor_count:
            grouped.setdefault(index, [])
    return grouped


def _content_hash(content: bytes, start: int, end: int) -> str:
    lines = content.splitlines(keepends=True)
    return "sha256:" + hashlib.sha256(b"".join(lines[start - 1 : end])).hexdigest()


def _file_record(
    path: str,
    source: Source,
    *,
    kind: str | None,
    related: list[dict[str, str]],
    content: ContentReader | None,
) -> dict[str, Any] | None:
    entry = source.files[path]
    if not isinstance(entry, Mapping):
        return None
    text = content(source.sha, path) if content is not None else None
    conversations = []
    for index, spans in sorted(_ranges(entry, len(source.actors)).items()):
        actor = source.actors[index]
        if not _wanted(actor, kind):
            continue
        ranges: list[dict[str, Any]] = []
        for start, end in sorted(spans):
            span: dict[str, Any] = {"start_line": start, "end_line": end}
            if text is not None:
                span["content_hash"] = _content_hash(text, start, end)
            ranges.append(span)
        conversation: dict[str, Any] = {"contributor": contributor(actor), "ranges": ranges}
        if related:
            conversation["related"] = related
        conversations.append(conversation)
    return {"path": path, "conversations": conversations} if conversations else None


def records(
    trace: Mapping[str, Any],
    *,
    tool_version: str,
    actor_kind: str | None = None,
    trace_url: str | None = None,
    content: ContentReader | None = None,
) -> list[dict[str, Any]]:
    """The Agent Trace records of one trace, a record per commit with known authorship (but
    those an amend or a rebase replaced), in the order the commits were recorded. `actor_kind` keeps only that kind's conversations
    (a commit left with none gives no record); `trace_url` (the trace on a server) goes in each
    conversation's `related`; `content` reads a committed file for the ranges' hashes."""
    events = trace.get("events") or []
    replaced = replaced_commits(events)
    by_commit: dict[str, list[Source]] = {}
    for source in authorship_sources(events):
        if source.sha not in replaced:
            by_commit.setdefault(source.sha, []).append(source)
    related = [{"type": "trace", "url": trace_url}] if trace_url else []
    repo: Mapping[str, Any] = trace["repo"] if isinstance(trace.get("repo"), Mapping) else {}
    found: list[dict[str, Any]] = []
    for sha, sources in by_commit.items():
        # the commit's own record first, then the imports in the order they were made
        sources.sort(key=lambda s: s.origin != "prtrace")
        files: list[dict[str, Any]] = []
        used: list[str] = []
        seen: set[str] = set()
        actors: list[Any] = []
        for source in sources:
            took = False
            for path in sorted(p for p in source.files if isinstance(p, str) and p not in seen):
                record = _file_record(
                    path, source, kind=actor_kind, related=related, content=content
                )
                if record is not None:
                    seen.add(path)
                    files.append(record)
                    took = True
            if took:
                used.append(source.origin)
                actors += [a for a in source.actors if _wanted(a, actor_kind) and a not in actors]
        if not files:
            continue
        found.append(
            {
                "version": AGENT_TRACE_VERSION,
                "id": str(uuid.uuid5(_NAMESPACE, f"{trace.get('trace_id')}/{sha}")),
                "timestamp": sources[0].ts,
                "vcs": {"type": "git", "revision": sha},
                "tool": {"name": "prtrace", "version": tool_version},
                "files": sorted(files, key=lambda f: f["path"]),
                "metadata": {
                    "dev.prtrace": {
                        "trace_id": trace.get("trace_id"),
                        "repo": repo.get("name"),
                        "branch": repo.get("branch"),
                        "sources": used,
                        "actors": actors,  # the sessions and models behind each contributor
                    }
                },
            }
        )
    return found


def trace_records(
    traces: Iterable[Mapping[str, Any]],
    *,
    tool_version: str,
    actor_kind: str | None = None,
    trace_urls: Mapping[str, str] | None = None,
    content: ContentReader | None = None,
) -> list[dict[str, Any]]:
    """The records of several traces; a commit in more than one (a PR's traces) once, from
    the first trace that has it."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for trace in traces:
        url = (trace_urls or {}).get(str(trace.get("trace_id")))
        for record in records(
            trace, tool_version=tool_version, actor_kind=actor_kind, trace_url=url, content=content
        ):
            if record["vcs"]["revision"] not in seen:
                seen.add(record["vcs"]["revision"])
                found.append(record)
    return found
