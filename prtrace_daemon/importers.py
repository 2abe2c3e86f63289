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
malformed note or checkpoint is skipped and counted, never fatal. A note's line ranges are
clipped to the file as its commit has it (a range of four billion lines would otherwise make
blame expand every one of them); a file the note names that its commit lacks is skipped.
Counts are per commit, once, however many of the branches imported contain it.

Objects are read through `GitSources` (one `git cat-file` process for every note, file and
checkpoint), and a commit's added lines are counted as `prtrace_core.authorship` counts them for
the commits prtrace records, so git-ai's unknown lines and prtrace's agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prtrace_core.authorship import added_lines, git_lines
from prtrace_core.errors import PrtraceError
from prtrace_daemon.gitobjects import GitSources
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.recorder import Recorder

__all__ = [
    "ENTIRE_BRANCH",
    "GIT_AI_REF",
    "CommittedFile",
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
    """What one import did, each commit counted once however many branches contain it: commits
    imported now, commits a trace already held, records skipped as malformed (sha, why), files
    a note names that its commit lacks (sha, path), events added, the branches imported into
    and those left out for having no trace."""

    events: int = 0
    malformed: list[tuple[str, str]] = field(default_factory=list)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    no_trace: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # commit -> "imported" | "already"

    def count(self, sha: str, outcome: str) -> None:
        """Note a commit's outcome in one branch: imported into any trace wins over already held."""
        if self.outcomes.get(sha) != "imported":
            self.outcomes[sha] = outcome

    @property
    def imported(self) -> int:
        """Commits whose events this import added."""
        return sum(1 for outcome in self.outcomes.values() if outcome == "imported")

    @property
    def already(self) -> int:
        """Commits every trace they go to already held from an earlier import."""
        return sum(1 for outcome in self.outcomes.values() if outcome == "already")

    @property
    def commits(self) -> int:
        """Commits with a record: imported, already held or malformed."""
        return len(self.outcomes) + len(self.malformed)


@dataclass(frozen=True, slots=True)
class CommittedFile:
    """A file as a commit has it: its lines (None: the commit does not have it), the lines the
    commit added against its first parent, and whether the commit changed it at all."""

    lines: int | None
    added: int
    changed: bool


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


def git_ai_attribution(text: str, committed: Mapping[str, CommittedFile]) -> dict[str, Any]:
    """A note as an attribution body {actors, files}: per file the agent's and the human's line
    counts and ranges, clipped to the file's lines at the commit (`committed`; a file it does
    not have is left out); lines the commit added that no key covers are unknown, as git-ai
    means them."""
    files, metadata = parse_git_ai_note(text)
    return _note_attribution(files, metadata, committed)


def _note_attribution(
    files: Mapping[str, Mapping[str, list[tuple[int, int]]]],
    metadata: Mapping[str, Any],
    committed: Mapping[str, CommittedFile],
) -> dict[str, Any]:
    actors: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    for path, keys in files.items():
        held = committed.get(path)
        if held is None or held.lines is None:
            continue
        counts = {"agent": 0, "human": 0}
        ranges = []
        for key, spans in keys.items():
            actor = _key_actor(key, metadata)
            clipped = [(start, min(end, held.lines)) for start, end in spans if start <= held.lines]
            if not clipped:
                continue
            if actor not in actors:
                actors.append(actor)
            index = actors.index(actor)
            for start, end in clipped:
                counts[actor["kind"]] += end - start + 1
                ranges.append([start, end, index])
        ranges.sort()
        unknown = max(0, held.added - counts["agent"] - counts["human"])
        out[path] = {**counts, "unknown": unknown, "ranges": ranges}
    return {"actors": actors, "files": out}


# git plumbing


def _has_ref(repo: GitRepo, ref: str) -> bool:
    return bool(repo.git("rev-parse", "-q", "--verify", ref, check=False).strip())


def _committed(sources: GitSources, sha: str, paths: list[str]) -> dict[str, CommittedFile]:
    """The files as the commit has them, against its first parent (a root commit: every line
    added), their added lines counted as prtrace counts its own commits'."""
    now = sources.blob_ids(sha, paths) or {}
    parent = sources.first_parent(sha)
    before = (sources.blob_ids(parent, paths) if parent else None) or {}
    found: dict[str, CommittedFile] = {}
    for path in paths:
        new_id, old_id = now.get(path), before.get(path)
        if new_id is None:
            found[path] = CommittedFile(None, 0, old_id is not None)
            continue
        lines = git_lines(sources.blob(new_id))  # the notes number lines as git does
        if new_id == old_id:
            found[path] = CommittedFile(len(lines), 0, False)
            continue
        old = git_lines(sources.blob(old_id)) if old_id is not None else []
        found[path] = CommittedFile(len(lines), len(added_lines(old, lines)), True)
    return found


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


Event = tuple[str, dict[str, Any], Mapping[str, Any]]


def _imported(recorder: Recorder, trace_id: str, source: str) -> set[tuple[str, str]]:
    """(commit, checkpoint or "") of what the trace already holds from `source`."""
    keys = set()
    for event in recorder.buffer.events(trace_id):
        payload = event.get("payload") or {}
        if payload.get("source") == source and isinstance(payload.get("commit"), str):
            keys.add((payload["commit"], str(payload.get("checkpoint") or "")))
    return keys


def _import(
    recorder: Recorder,
    repo: GitRepo,
    *,
    source: str,
    all_branches: bool,
    linked: Callable[[str], Mapping[str, str]],
    build: Callable[[str, str], list[Event]],
) -> ImportReport:
    """Each branch's commits that `linked(rev)` gives a record (commit -> record key: "" for a
    note, the checkpoint for Entire) become `build(commit, key)`'s events in the branch's trace.
    A commit is built once, however many branches contain it, and counted once."""
    report = ImportReport()
    built: dict[str, list[Event] | None] = {}  # None: malformed
    for branch, rev, trace_id in _branches(repo, recorder, all_branches):
        keys = linked(rev)
        commits = [sha for sha in _commits(repo, rev) if sha in keys]
        if trace_id is None:
            if commits:
                report.no_trace.append(branch)
            continue
        report.branches.append(branch)
        done = _imported(recorder, trace_id, source)
        events: list[Event] = []
        for sha in commits:
            if (sha, keys[sha]) in done:
                report.count(sha, "already")
                continue
            if sha not in built:
                try:
                    built[sha] = build(sha, keys[sha])
                except MalformedRecord as exc:
                    built[sha] = None
                    report.malformed.append((sha, str(exc)))
            found = built[sha]
            if found is not None:
                events += found
                report.count(sha, "imported")
        if events:
            _write(recorder, repo, trace_id, events)
            report.events += len(events)
    return report


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
    noted = dict.fromkeys(notes, "")
    skipped: list[tuple[str, str]] = []
    with GitSources(repo) as sources:

        def build(sha: str, _key: str) -> list[Event]:
            raw = sources.blob(notes[sha])
            if raw is None:
                raise MalformedRecord("note object missing")
            try:
                files, metadata = parse_git_ai_note(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise MalformedRecord(f"note is not UTF-8 ({exc.reason})") from None
            committed = _committed(sources, sha, list(files))
            missing = [path for path in files if committed[path].lines is None]
            if files and len(missing) == len(files):
                raise MalformedRecord("names no file its commit has")
            skipped.extend((sha, path) for path in missing)
            body = _note_attribution(files, metadata, committed)
            actor = {"kind": "tool", "name": "git-ai"}
            return [("attribution", {"commit": sha, "source": "git-ai", **body}, actor)]

        report = _import(
            recorder,
            repo,
            source="git-ai",
            all_branches=all_branches,
            linked=lambda _rev: noted,
            build=build,
        )
    report.skipped_files = skipped
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


def _checkpoint_events(sources: GitSources, tip: str, sha: str, checkpoint: str) -> list[Event]:
    """The events one checkpoint gives the commit that names it (`tip`: the checkpoints
    branch's commit)."""
    folder = f"{checkpoint[:2]}/{checkpoint[2:]}/"
    tree = sources.tree(tip) or {}
    paths = [p for p in tree if p.startswith(folder)]
    if not paths:
        raise MalformedRecord(f"checkpoint {checkpoint} is not on {ENTIRE_BRANCH}")
    content = {p.removeprefix(folder): sources.blob(tree[p][1]) for p in paths}
    summary = _json_object(content.get("metadata.json"), f"{folder}metadata.json")
    sessions = sorted(
        {p.split("/", 1)[0] for p in content if "/" in p and p.split("/", 1)[0].isdigit()}, key=int
    )
    base = {"source": "entire", "commit": sha, "checkpoint": checkpoint}
    events: list[Event] = []
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
        committed = _committed(sources, sha, sorted(touched))
        files_out = {
            path: {
                "agent": 0,
                "human": 0,
                "unknown": committed[path].added,
                "ranges": [],
                "actors": indices,
            }
            for path, indices in sorted(touched.items())
            if committed[path].changed
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
    tip = repo.git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    with GitSources(repo) as sources:
        return _import(
            recorder,
            repo,
            source="entire",
            all_branches=all_branches,
            linked=lambda rev: _trailers(repo, rev),
            build=lambda sha, checkpoint: _checkpoint_events(sources, tip, sha, checkpoint),
        )
