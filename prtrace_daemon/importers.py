"""What other tools recorded about agent work, brought into a repository's traces, so a team
moving to prtrace keeps its history.

- git-ai keeps line authorship as git notes under `refs/notes/ai` (authorship/3.0.0: a file
  path, then `  <key> <ranges>` lines, `---`, and a JSON metadata block naming each key's
  agent session or human). Each noted commit becomes an `attribution` event.
- Entire keeps checkpoints on the branch `entire/checkpoints/v1` (`<id[:2]>/<id[2:]>/`, a
  `metadata.json` and a folder per session with its own `metadata.json` and `prompt.txt`), and a
  commit names its checkpoint in an `Entire-Checkpoint:` trailer. Each such commit becomes an
  `agent` session event and the session's prompts (`annotation`, `role: prompt`) with the
  agent's actor, and an `attribution` event for the files the agent touched.

Events go through `Recorder.append` (redacted, ordered, in the branch's trace). An import is
idempotent: what a trace already holds from the same source and commit is not added again. A
malformed note or checkpoint is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.recorder import Recorder

__all__ = [
    "ENTIRE_BRANCH",
    "GIT_AI_REF",
    "ImportReport",
    "ImportSourceMissing",
    "MalformedRecord",
    "git_ai_attribution",
    "import_entire",
    "import_git_ai",
    "parse_git_ai_note",
    "split_prompts",
]

GIT_AI_REF = "refs/notes/ai"
ENTIRE_BRANCH = "entire/checkpoints/v1"
_ENTIRE_REFS = (f"refs/heads/{ENTIRE_BRANCH}", f"refs/remotes/origin/{ENTIRE_BRANCH}")
_PROMPT_SEPARATOR = "\n\n---\n\n"  # how Entire joins a session's prompts in prompt.txt
_TRAILER = re.compile(r"^Entire-Checkpoint:[ \t]*([0-9a-f]{12})[ \t]*$", re.MULTILINE)
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")

# git-ai's `agent_id.tool` and Entire's `agent` label, as prtrace names the agents.
_AGENT_NAMES = {
    "claude": "claude-code",
    "claude code": "claude-code",
    "claude-code": "claude-code",
    "codex": "codex",
    "gemini": "gemini",
    "gemini cli": "gemini",
    "cursor": "cursor",
}


class ImportSourceMissing(PrtraceError):
    """The ref or branch another tool keeps its records in is not in this repository."""


class MalformedRecord(ValueError):
    """A note or checkpoint that does not read as its format says: skipped and counted."""


@dataclass(slots=True)
class ImportReport:
    """What one import did: commits with a record, events added, commits already imported,
    records skipped as malformed (sha, why), branches left out for having no trace."""

    commits: int = 0
    events: int = 0
    already: int = 0
    malformed: list[tuple[str, str]] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    no_trace: list[str] = field(default_factory=list)


# git-ai


def _agent_name(label: object) -> str | None:
    if not isinstance(label, str) or not label.strip():
        return None
    text = label.strip().lower()
    return _AGENT_NAMES.get(text, text.replace(" ", "-"))


def _actor(**fields: object) -> dict[str, Any]:
    """An actor with its unknown keys left out (never null)."""
    return {key: value for key, value in fields.items() if isinstance(value, str) and value}


def _ranges(text: str) -> list[tuple[int, int]]:
    spans = []
    for piece in text.split(","):
        match = _RANGE.match(piece)
        if match is None:
            raise MalformedRecord(f"bad line range {piece!r}")
        start = int(match[1])
        end = int(match[2]) if match[2] else start
        if not 1 <= start <= end:
            raise MalformedRecord(f"bad line range {piece!r}")
        spans.append((start, end))
    return spans


def parse_git_ai_note(
    text: str,
) -> tuple[dict[str, dict[str, list[tuple[int, int]]]], dict[str, Any]]:
    """A git-ai note as ({path: {key: [(start, end), …]}}, metadata); MalformedRecord when it
    is not authorship/3.x."""
    lines = text.split("\n")
    if "---" not in lines:
        raise MalformedRecord("no `---` line between attestations and metadata")
    divider = lines.index("---")
    try:
        metadata = json.loads("\n".join(lines[divider + 1 :]))
    except ValueError as exc:
        raise MalformedRecord(f"metadata is not JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise MalformedRecord("metadata is not a JSON object")
    version = metadata.get("schema_version")
    if not isinstance(version, str) or not version.startswith("authorship/3."):
        raise MalformedRecord(f"schema_version {version!r} is not authorship/3.x")
    files: dict[str, dict[str, list[tuple[int, int]]]] = {}
    path: str | None = None
    for line in lines[:divider]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            path = line
            if line.startswith('"'):
                try:
                    path = str(json.loads(line))
                except ValueError:
                    raise MalformedRecord(f"bad quoted path {line!r}") from None
            files.setdefault(path, {})
            continue
        if path is None or not line.startswith("  ") or line[2:3] == " ":
            raise MalformedRecord(f"entry outside a file: {line.strip()!r}")
        key, _, spans = line[2:].partition(" ")
        if not key or not spans:
            raise MalformedRecord(f"bad entry {line.strip()!r}")
        files[path].setdefault(key, []).extend(_ranges(spans.strip()))
    return files, metadata


def _key_actor(key: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The actor a note's key stands for: an AI session (`s_…::t_…`), a known human (`h_…`), or
    a legacy prompt key."""
    if key.startswith("h_"):
        return {"kind": "human"}
    if "::" in key:
        record = (metadata.get("sessions") or {}).get(key.split("::", 1)[0])
    else:
        record = (metadata.get("prompts") or {}).get(key)
    agent = record.get("agent_id") if isinstance(record, Mapping) else None
    agent = agent if isinstance(agent, Mapping) else {}
    return _actor(
        kind="agent",
        name=_agent_name(agent.get("tool")),
        session=agent.get("id"),
        model=agent.get("model"),
    )


def git_ai_attribution(text: str, added: Mapping[str, int]) -> dict[str, Any]:
    """A note as an attribution body {actors, files}: per file the agent's and the human's line
    counts and ranges; lines the commit added (`added`, per file) that no key covers are
    unknown, as git-ai means them."""
    files, metadata = parse_git_ai_note(text)
    actors: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    for path, keys in files.items():
        counts = {"agent": 0, "human": 0}
        ranges = []
        for key, spans in keys.items():
            actor = _key_actor(key, metadata)
            if actor not in actors:
                actors.append(actor)
            index = actors.index(actor)
            for start, end in spans:
                counts[actor["kind"]] += end - start + 1
                ranges.append([start, end, index])
        ranges.sort()
        unknown = max(0, added.get(path, 0) - counts["agent"] - counts["human"])
        out[path] = {**counts, "unknown": unknown, "ranges": ranges}
    return {"actors": actors, "files": out}


# git plumbing


def _has_ref(repo: GitRepo, ref: str) -> bool:
    return bool(repo.git("rev-parse", "-q", "--verify", ref, check=False).strip())


def _read_objects(repo: GitRepo, names: Iterable[str]) -> dict[str, bytes | None]:
    """Many objects in one `git cat-file --batch`; None for a name git does not have."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    out = repo.git("cat-file", "--batch", input="".join(f"{name}\n" for name in wanted).encode())
    found: dict[str, bytes | None] = {}
    at = 0
    for name in wanted:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if header[-1] == b"missing" or len(header) < 3:
            found[name] = None
            continue
        size = int(header[2])
        found[name] = out[at : at + size]
        at += size + 1
    return found


def _added_lines(repo: GitRepo, sha: str) -> dict[str, int]:
    """Lines the commit added per file, against its first parent (a root commit: all)."""
    out = repo.git(
        "diff-tree",
        "-r",
        "-z",
        "--numstat",
        "--root",
        "--no-renames",
        "--diff-merges=first-parent",
        "--no-commit-id",
        sha,
    )
    added: dict[str, int] = {}
    for entry in out.decode("utf-8", "replace").split("\0"):
        parts = entry.strip("\n").split("\t", 2)
        if len(parts) == 3:
            added[parts[2]] = int(parts[0]) if parts[0].isdigit() else 0
    return added


def _branches(
    repo: GitRepo, recorder: Recorder, all_branches: bool
) -> list[tuple[str, str, str | None]]:
    """(branch, rev, trace id or None) for the current branch, or every local branch. The
    current branch's trace is opened (and its pending edits recorded) when it has none yet."""
    current = recorder.record(repo)
    row = recorder.buffer.trace(current.trace_id)
    current_branch = row.branch if row else ""
    found: list[tuple[str, str, str | None]] = [(current_branch, "HEAD", current.trace_id)]
    if all_branches:
        root = str(repo.root)
        listing = (
            repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads/")
            .decode()
            .split("\n")
        )
        for branch in sorted(
            b for b in listing if b and b != current_branch and not b.startswith("entire/")
        ):
            trace = recorder.buffer.trace_for(root, branch)
            found.append((branch, f"refs/heads/{branch}", trace.trace_id if trace else None))
    return found


def _commits(repo: GitRepo, rev: str) -> list[str]:
    out = repo.git("rev-list", "--reverse", rev, check=False).decode()
    return [line for line in out.split("\n") if line]


def _write(
    recorder: Recorder,
    repo: GitRepo,
    trace_id: str,
    events: list[tuple[str, dict[str, Any], Mapping[str, Any]]],
) -> None:
    """Append the events, in order, in one transaction under the repository's lock."""
    with (
        file_lock(repo_lock_path(recorder.home.locks, str(repo.root))),
        recorder.buffer.write() as tx,
    ):
        for kind, payload, actor in events:
            recorder.append(tx, trace_id, kind, payload, actor=actor)


def _imported(recorder: Recorder, trace_id: str, source: str) -> set[tuple[str, str]]:
    """(commit, checkpoint or "") of what the trace already holds from `source`."""
    keys = set()
    for event in recorder.buffer.events(trace_id):
        payload = event.get("payload") or {}
        if payload.get("source") == source and isinstance(payload.get("commit"), str):
            keys.add((payload["commit"], str(payload.get("checkpoint") or "")))
    return keys


def import_git_ai(recorder: Recorder, repo: GitRepo, *, all_branches: bool = False) -> ImportReport:
    """An `attribution` event per commit with a git-ai note, in its branch's trace."""
    if not _has_ref(repo, GIT_AI_REF):
        raise ImportSourceMissing(
            f"no git-ai notes here: {GIT_AI_REF} does not exist",
            hint="fetch them first: git fetch origin refs/notes/ai:refs/notes/ai",
        )
    notes: dict[str, str] = {}  # commit -> note blob
    for line in repo.git("notes", f"--ref={GIT_AI_REF}", "list").decode().split("\n"):
        if line.strip():
            blob, commit = line.split()
            notes[commit] = blob
    report = ImportReport()
    texts = _read_objects(repo, notes.values())
    bad: set[str] = set()
    for branch, rev, trace_id in _branches(repo, recorder, all_branches):
        noted = [sha for sha in _commits(repo, rev) if sha in notes]
        if trace_id is None:
            if noted:
                report.no_trace.append(branch)
            continue
        report.branches.append(branch)
        done = _imported(recorder, trace_id, "git-ai")
        events: list[tuple[str, dict[str, Any], Mapping[str, Any]]] = []
        for sha in noted:
            report.commits += 1
            if (sha, "") in done:
                report.already += 1
                continue
            raw = texts.get(notes[sha])
            try:
                if raw is None:
                    raise MalformedRecord("note object missing")
                body = git_ai_attribution(raw.decode("utf-8"), _added_lines(repo, sha))
            except (MalformedRecord, UnicodeDecodeError) as exc:
                if sha not in bad:
                    bad.add(sha)
                    report.malformed.append((sha, str(exc)))
                continue
            events.append(
                (
                    "attribution",
                    {"commit": sha, "source": "git-ai", **body},
                    {"kind": "tool", "name": "git-ai"},
                )
            )
        if events:
            _write(recorder, repo, trace_id, events)
            report.events += len(events)
    return report


# Entire


def split_prompts(text: str) -> list[str]:
    """prompt.txt as its prompts (Entire joins them with a `---` paragraph)."""
    prompts = text.split(_PROMPT_SEPARATOR) if text else []
    while prompts and not prompts[-1].strip():
        prompts.pop()
    return prompts


def _json_object(data: bytes | None, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise MalformedRecord(f"{what} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MalformedRecord(f"{what} is not a JSON object")
    return value


def _checkpoint_events(
    repo: GitRepo, ref: str, sha: str, checkpoint: str
) -> list[tuple[str, dict[str, Any], Mapping[str, Any]]]:
    """The events one checkpoint gives the commit that names it."""
    folder = f"{checkpoint[:2]}/{checkpoint[2:]}/"
    listing = repo.git("ls-tree", "-r", "--name-only", ref, "--", folder).decode().split("\n")
    paths = [p for p in listing if p]
    if not paths:
        raise MalformedRecord(f"checkpoint {checkpoint} is not on {ENTIRE_BRANCH}")
    blobs = _read_objects(repo, (f"{ref}:{p}" for p in paths))
    content = {p.removeprefix(folder): blobs[f"{ref}:{p}"] for p in paths}
    summary = _json_object(content.get("metadata.json"), f"{folder}metadata.json")
    sessions = sorted(
        {p.split("/", 1)[0] for p in content if "/" in p and p.split("/", 1)[0].isdigit()}, key=int
    )
    base = {"source": "entire", "commit": sha, "checkpoint": checkpoint}
    events: list[tuple[str, dict[str, Any], Mapping[str, Any]]] = []
    actors: list[dict[str, Any]] = []
    touched: dict[str, list[int]] = {}
    lines = {"agent": 0, "human": 0, "total": 0}
    for number in sessions:
        meta = _json_object(
            content.get(f"{number}/metadata.json"), f"{folder}{number}/metadata.json"
        )
        actor = _actor(
            kind="agent", name=_agent_name(meta.get("agent")), session=meta.get("session_id")
        )
        if actor not in actors:
            actors.append(actor)
        index = actors.index(actor)
        files = [
            f
            for f in meta.get("files_touched") or summary.get("files_touched") or []
            if isinstance(f, str)
        ]
        for path in files:
            touched.setdefault(path, [])
            if index not in touched[path]:
                touched[path].append(index)
        session: dict[str, Any] = {
            "event": "session",
            **base,
            "session_index": int(number),
            "files_touched": files,
        }
        for key in ("created_at", "strategy", "branch", "checkpoints_count", "token_usage"):
            if meta.get(key) is not None:
                session[key] = meta[key]
        events.append(("agent", session, actor))
        raw = content.get(f"{number}/prompt.txt")
        for text in split_prompts(raw.decode("utf-8", "replace")) if raw else []:
            events.append(("annotation", {"role": "prompt", "text": text, **base}, actor))
        counts = meta.get("initial_attribution")
        if isinstance(counts, Mapping):
            lines["agent"] += _count(counts.get("agent_lines"))
            lines["human"] += _count(counts.get("human_added")) + _count(
                counts.get("human_modified")
            )
            lines["total"] += _count(counts.get("total_committed"))
    if touched:
        # Entire says which files each session touched and how many lines were the agent's
        # overall, not which lines: the files name their agents, their added lines stay unknown.
        added = _added_lines(repo, sha)
        files_out = {
            path: {"agent": 0, "human": 0, "unknown": added[path], "ranges": [], "actors": indices}
            for path, indices in sorted(touched.items())
            if path in added
        }
        if files_out:
            events.append(
                (
                    "attribution",
                    {**base, "actors": actors, "files": files_out, "lines": lines},
                    {"kind": "tool", "name": "entire"},
                )
            )
    return events


def _count(value: object) -> int:
    return value if type(value) is int and value > 0 else 0


def _trailers(repo: GitRepo, rev: str) -> dict[str, str]:
    """commit -> the checkpoint its message names, for the commits of `rev`."""
    out = repo.git("log", "-z", "--format=%H%n%B", rev, check=False).decode("utf-8", "replace")
    found = {}
    for record in out.split("\0"):
        sha, _, message = record.strip("\n").partition("\n")
        named = _TRAILER.findall(message)
        if named and re.fullmatch(r"[0-9a-f]{40,64}", sha):
            found[sha] = named[-1]  # the last trailer wins, as git's own trailer reading does
    return found


def import_entire(recorder: Recorder, repo: GitRepo, *, all_branches: bool = False) -> ImportReport:
    """For each commit with an `Entire-Checkpoint:` trailer: its checkpoint's sessions (an
    `agent` event each), their prompts and an `attribution`, in the branch's trace."""
    ref = next((r for r in _ENTIRE_REFS if _has_ref(repo, r)), None)
    if ref is None:
        raise ImportSourceMissing(
            f"no Entire checkpoints here: the branch {ENTIRE_BRANCH} does not exist",
            hint=f"fetch it first: git fetch origin {ENTIRE_BRANCH}:{ENTIRE_BRANCH}",
        )
    report = ImportReport()
    bad: set[str] = set()
    for branch, rev, trace_id in _branches(repo, recorder, all_branches):
        linked = _trailers(repo, rev)
        commits = [sha for sha in _commits(repo, rev) if sha in linked]
        if trace_id is None:
            if commits:
                report.no_trace.append(branch)
            continue
        report.branches.append(branch)
        done = _imported(recorder, trace_id, "entire")
        events: list[tuple[str, dict[str, Any], Mapping[str, Any]]] = []
        for sha in commits:
            report.commits += 1
            if (sha, linked[sha]) in done:
                report.already += 1
                continue
            try:
                found = _checkpoint_events(repo, ref, sha, linked[sha])
            except MalformedRecord as exc:
                if sha not in bad:
                    bad.add(sha)
                    report.malformed.append((sha, str(exc)))
                continue
            events += found
        if events:
            _write(recorder, repo, trace_id, events)
            report.events += len(events)
    return report
