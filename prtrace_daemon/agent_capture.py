"""Turning a coding agent's hook lines into events: the agent half of the drain.

A hook's input (agent_calls.py reads it into an `AgentCall`) is recorded in the registered repo
holding the agent's folder, as the agent's (its actor: name, session, model, subagent):

- an edit tool's pre hook records what the work tree holds of its files now (the developer's
  work so far), then marks them: the scan leaves a marked file alone. Its post hook records the
  files' changes as the agent's edits and unmarks them. When the file holds more than what the
  tool wrote (the developer typed into it meanwhile), the change is split by content: snapshot
  → what the tool's pieces give (the agent's), then → the disk (the developer's), chained.
  A post hook with no pre (Cursor sends none) records the files it names the same way. A mark
  whose post hook never comes expires (buffer.AGENT_MARK_TTL_NS), and the scan takes the file;
- a shell call's pre hook notes when it started (after the developer's edits so far); while it
  runs, what changes in the repo, and the git commands it runs, are the agent's; its post hook
  records those edits and a `command` or `test` event, decided and parsed as `prtrace run` does;
- a prompt becomes an `annotation` (`role: prompt`); a session's start and end, a stop, a
  subagent's start and stop become `agent` events.

Every event goes through `Recorder.append`, so it is redacted like any other, and each line is
marked done in the transaction that records it: a crash neither loses nor repeats one.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prtrace_core.gitblob import blob_sha
from prtrace_core.timestamps import now_ts
from prtrace_daemon.agent_calls import AgentCall, FileWrite, parse_call
from prtrace_daemon.buffer import AgentCallRow, Snapshot, Writer
from prtrace_daemon.edits import Change, scan, split_edit, tracked_paths
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.recorder import HUMAN
from prtrace_daemon.run_event import run_event
from prtrace_daemon.runner import outcome_of
from prtrace_daemon.spool_format import AgentRecord

if TYPE_CHECKING:
    from prtrace_daemon.spool import SpoolLine
    from prtrace_daemon.spool_events import SpoolInterpreter

__all__ = ["AgentCapture", "agent_actor", "apply_pieces"]

# What an `agent` event keeps of a hook's details: enough to find the transcript and to know
# why a session ended, never the transcript itself.
_DETAILS = ("source", "reason", "transcript_path")
_SESSION_HOOKS = frozenset(
    {"session_start", "session_end", "stop", "subagent_start", "subagent_stop"}
)


def agent_actor(call: AgentCall, model: str | None = None) -> dict[str, str]:
    """The actor of the call's events (DESIGN §3): unknown keys are left out, never null."""
    actor = {
        "kind": "agent",
        "name": call.agent,
        "session": call.session,
        "model": call.model or model,
        "subagent": call.subagent,
    }
    return {key: value for key, value in actor.items() if value}


def apply_pieces(text: str, pieces: tuple[tuple[str, str, bool], ...]) -> str | None:
    """`text` after the tool's (old → new) replacements, in order; None when one does not apply
    (its old text is not there), so what the tool wrote cannot be known from this text."""
    for old, new, replace_all in pieces:
        if not old:  # writing into an empty (or new) file
            if text:
                return None
            text = new
            continue
        if old not in text:
            return None
        text = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    return text


class AgentCapture:
    """Records the `agent` lines of the spool, through the interpreter's recorder."""

    def __init__(self, interpreter: SpoolInterpreter) -> None:
        self.recorder = interpreter.recorder
        self.buffer = interpreter.buffer
        self.home = interpreter.home

    def drain_line(self, line: SpoolLine) -> int:
        """Record one agent line; 0 when it is dropped (marked done): a hook or tool capture
        does not use, or an agent working outside every recorded repo."""
        record = line.record
        call = parse_call(record.agent, record.payload) if isinstance(record, AgentRecord) else None
        root = self._repo_root(line.repo_path, call.cwd) if call is not None else None
        row = self.buffer.repo(root) if root is not None else None
        if call is None or row is None or row.paused or not Path(row.path, ".git").exists():
            return self._drop(line)
        repo = GitRepo(Path(row.path))
        ts = line.ts if len(line.ts) == 24 and line.ts.endswith("Z") else now_ts()
        at_ns = line.written_ns or time.time_ns()
        with file_lock(repo_lock_path(self.home.locks, row.path)):
            if call.hook == "prompt":
                return self._prompt(repo, line, call, ts, at_ns)
            if call.hook in _SESSION_HOOKS:
                return self._session_event(repo, line, call, ts, at_ns)
            if call.tool_kind == "edit" and call.hook == "pre_tool":
                return self._edit_pre(repo, line, call, ts, at_ns)
            if call.tool_kind == "edit" and call.hook in ("post_tool", "tool_failed"):
                return self._edit_post(repo, line, call, ts)
            if call.tool_kind == "shell" and call.hook == "pre_tool":
                return self._shell_pre(repo, line, call, ts, at_ns)
            if call.tool_kind == "shell" and call.hook in ("post_tool", "tool_failed"):
                return self._shell_post(repo, line, call, ts, at_ns)
        return self._drop(line)  # a tool capture does not record (a search, a read)

    # where

    def _repo_root(self, *places: str | None) -> str | None:
        """The registered repo holding the first of `places` that one holds (the deepest, for
        a repo inside another's folder)."""
        roots = [row.path for row in self.buffer.repos()]
        for place in places:
            if not place:
                continue
            for candidate in dict.fromkeys((os.path.normpath(place), os.path.realpath(place))):
                inside = [
                    r for r in roots if candidate == r or candidate.startswith(r.rstrip("/") + "/")
                ]
                if inside:
                    return max(inside, key=len)
        return None

    def _paths(self, repo: GitRepo, line: SpoolLine, call: AgentCall) -> dict[str, FileWrite]:
        """The call's files, repo-relative, with what the tool says of each; files outside the
        repo are not its business."""
        base = call.cwd or line.repo_path or str(repo.root)
        paths: dict[str, FileWrite] = {}
        for write in call.files:
            for name in (write.path, write.moved_to):
                rel = _relative(repo.root, base, name) if name else None
                if rel is not None:
                    paths.setdefault(rel, write)
        return paths

    # who

    def _actor(self, call: AgentCall) -> dict[str, str]:
        model = None
        if call.model is None and call.session:
            model = self.buffer.agent_model(call.agent, call.session)
        return agent_actor(call, model)

    @contextmanager
    def _claimed(self, line: SpoolLine, call: AgentCall) -> Iterator[Writer | None]:
        """The transaction that records the line, or None when it already was; the session's
        model is remembered in it, for later calls whose payload lacks it."""
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                yield None
                return
            if call.session and call.model:
                tx.note_agent_session(call.agent, call.session, call.model)
            yield tx

    def _drop(self, line: SpoolLine) -> int:
        with self.buffer.write() as tx:
            tx.claim_spool_line(line.key)
        return 0

    # events

    def _prompt(self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str, at_ns: int) -> int:
        """What the developer asked the agent, after the edits made before it."""
        if not call.prompt:
            return self._drop(line)
        return self._event(
            repo, line, call, ts, at_ns, "annotation", {"role": "prompt", "text": call.prompt}
        )

    def _session_event(
        self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str, at_ns: int
    ) -> int:
        """A session's start or end, a stop, a subagent's start or stop: small, never the
        transcript (its path is kept)."""
        payload: dict[str, Any] = {"event": call.hook}
        for key in _DETAILS:
            value = call.details.get(key)
            if isinstance(value, str) and value:
                payload[key] = value
        agent_type = call.subagent or call.details.get("agent_type")
        if isinstance(agent_type, str) and agent_type:
            payload["agent_type"] = agent_type
        message = call.details.get("last_assistant_message")
        if isinstance(message, str) and message:
            payload["last_assistant_message"] = outcome_of(0, 0, message.encode()).sample
        return self._event(repo, line, call, ts, at_ns, "agent", payload)

    def _event(
        self,
        repo: GitRepo,
        line: SpoolLine,
        call: AgentCall,
        ts: str,
        at_ns: int,
        type: str,
        payload: dict[str, Any],
    ) -> int:
        """The agent's event, after the edits made before its hook ran (work done since waits
        for the next scan)."""
        rec = self.recorder
        plan = rec.plan(repo, until_ns=at_ns)
        actor = self._actor(call)
        with self._claimed(line, call) as tx:
            if tx is None:
                return 0
            trace_id, _ = rec.apply(tx, repo, plan, ts=ts)
            rec.append(tx, trace_id, type, payload, ts=ts, actor=actor)
        return 1

    # edit tools

    def _edit_pre(
        self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str, at_ns: int
    ) -> int:
        """Take the call's files as they are (the developer's work so far is the developer's),
        then mark them until the post hook."""
        paths = self._paths(repo, line, call)
        if not paths:
            return self._drop(line)
        return self._open_call(repo, line, call, ts, at_ns, "edit", paths)

    def _edit_post(self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str) -> int:
        """The call's files' changes as the agent's edits (a file changed beyond what the tool
        wrote: split), then unmark them. With no pre hook drained (Cursor has none), the files
        it names are recorded the same way."""
        rec = self.recorder
        key = _call_key(call)
        opened = self.buffer.agent_call(key)
        writes = self._paths(repo, line, call)
        files = set(writes) | set(
            opened.files if opened is not None and opened.tool_kind == "edit" else ()
        )
        actor = self._actor(call)
        plan = rec.plan(repo, ())  # opens the trace, or takes a new baseline, when needed
        edits: list[tuple[Change, Mapping[str, Any]]] = []
        touched: dict[str, Snapshot] = {}
        if files and plan.scanned is not None:
            written = {} if call.hook == "tool_failed" else self._tool_wrote(repo, writes)
            edits, touched = self._edits(repo, files, written, actor)
        with self._claimed(line, call) as tx:
            if tx is None:
                return 0
            trace_id, _ = rec.apply(tx, repo, plan, ts=ts)
            for path, snap in touched.items():
                tx.put_snapshot(str(repo.root), path, snap)
            for change, who in edits:
                rec.write_changes(tx, repo, trace_id, [change], ts=ts, actor=who)
            tx.close_agent_call(key)
        return 1

    def _tool_wrote(self, repo: GitRepo, writes: Mapping[str, FileWrite]) -> dict[str, bytes]:
        """What the tool wrote into each file, when its pieces say (a whole content, or
        replacements that apply to the file as last recorded, else to the content the agent
        says it started from)."""
        snaps = self.buffer.snapshots(str(repo.root), list(writes))
        wrote: dict[str, bytes] = {}
        for path, write in writes.items():
            if write.moved_to is not None or write.op not in ("write", "replace"):
                continue  # a move or a deletion is recorded whole
            if write.op == "write":
                if write.content is not None:
                    wrote[path] = write.content.encode("utf-8", "surrogateescape")
                continue
            bases = (self._recorded_text(repo, snaps.get(path)), write.original)
            for base in bases:
                result = apply_pieces(base, write.replacements) if base is not None else None
                if result is not None:
                    wrote[path] = result.encode("utf-8", "surrogateescape")
                    break
        return wrote

    def _recorded_text(self, repo: GitRepo, snap: Snapshot | None) -> str | None:
        """The file's content as last recorded, from git or the blob cache (which holds it
        only when no secret was redacted from it); None when neither has it."""
        if snap is None:
            return ""  # a new file: the tool starts from nothing
        raw = repo.read_blob(snap.blob_sha)
        if raw is None:
            cached = self.recorder.cache.get(snap.blob_sha)
            raw = cached if cached is not None and blob_sha(cached) == snap.blob_sha else None
        try:
            return None if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _edits(
        self,
        repo: GitRepo,
        files: Collection[str],
        written: Mapping[str, bytes],
        actor: Mapping[str, Any],
    ) -> tuple[list[tuple[Change, Mapping[str, Any]]], dict[str, Snapshot]]:
        """The edits from the snapshot to the disk for `files`, each with its actor: split
        where the disk holds more than the tool wrote, the agent's whole otherwise; and the
        snapshot entries refreshed without an edit."""
        rec = self.recorder
        root = str(repo.root)
        snaps = self.buffer.snapshots(root, list(files))
        withheld = rec.withheld(repo)
        listed = set(tracked_paths(repo, list(files)))
        edits: list[tuple[Change, Mapping[str, Any]]] = []
        whole: list[str] = []
        for path in sorted(files):
            split = None
            if path in written and path in listed:
                split = split_edit(
                    repo,
                    snaps,
                    rec.cache,
                    path=path,
                    written=written[path],
                    redactor=rec.redactor,
                    withheld=withheld,
                )
            if split is None:
                whole.append(path)
                continue
            if split.tool is not None:
                edits.append((split.tool, actor))
            edits.append((split.beyond, HUMAN))
        touched: dict[str, Snapshot] = {}
        if whole:
            result = scan(repo, snaps, rec.cache, whole, redactor=rec.redactor, withheld=withheld)
            edits += [(change, actor) for change in result.changes]
            touched = result.touched
        return edits, touched

    # shell calls

    def _shell_pre(
        self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str, at_ns: int
    ) -> int:
        """Record the edits made so far (not the command's), then note that the call runs."""
        return self._open_call(repo, line, call, ts, at_ns, "shell", {})

    def _open_call(
        self,
        repo: GitRepo,
        line: SpoolLine,
        call: AgentCall,
        ts: str,
        at_ns: int,
        kind: str,
        paths: Mapping[str, FileWrite],
    ) -> int:
        """Record the developer's edits made before the call (of its files only, for an edit
        tool), then note the call as open: its files marked, or the repo's changes its own."""
        rec = self.recorder
        plan = rec.plan(repo, sorted(paths) if paths else None, until_ns=at_ns)
        with self._claimed(line, call) as tx:
            if tx is None:
                return 0
            rec.apply(tx, repo, plan, ts=ts)
            tx.open_agent_call(
                _call_key(call),
                repo_path=str(repo.root),
                actor=self._actor(call),
                tool_kind=kind,
                files=paths,
                started_ns=at_ns,
            )
        return 1

    def _shell_post(
        self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str, at_ns: int
    ) -> int:
        """The edits the command made (what changed while it ran) as the agent's, then the
        `command` or `test` event it is, as `prtrace run` decides."""
        rec = self.recorder
        key = _call_key(call)
        opened = self.buffer.agent_call(key)
        actor = self._actor(call)
        plan = rec.plan(repo, until_ns=at_ns)
        kind, payload = self._run_event(call, opened, at_ns)
        with self._claimed(line, call) as tx:
            if tx is None:
                return 0
            # with no pre hook drained, the call's start is not known: what changed stays the scan's
            trace_id, _ = rec.apply(
                tx, repo, plan, ts=ts, actor=actor if opened is not None else None
            )
            rec.append(tx, trace_id, kind, payload, ts=ts, actor=actor)
            tx.close_agent_call(key)
        return 1

    @staticmethod
    def _run_event(
        call: AgentCall, opened: AgentCallRow | None, at_ns: int
    ) -> tuple[str, dict[str, Any]]:
        command = call.command or ""
        try:
            argv = shlex.split(command)
        except ValueError:  # unbalanced quotes: the words as they are
            argv = command.split()
        exit_code = call.exit_code
        if exit_code is None:  # the agent did not say (Codex): a failed call is non-zero at least
            exit_code = 1 if call.hook == "tool_failed" else 0
        duration_ms = call.duration_ms
        if duration_ms is None:
            duration_ms = (
                max(0, (at_ns - opened.started_ns) // 1_000_000) if opened is not None else 0
            )
        started_s = (
            opened.started_ns if opened is not None else at_ns - duration_ms * 1_000_000
        ) / 1e9
        outcome = outcome_of(
            exit_code, duration_ms, (call.output or "").encode("utf-8", "surrogateescape")
        )
        cwd = call.details.get("command_cwd") or call.cwd  # Cursor: the command's own folder
        cwd = cwd if isinstance(cwd, str) else None
        kind, payload = run_event(
            argv or [command], outcome, junit=None, started_s=started_s, cwd=cwd
        )
        payload["command"] = command
        if cwd is None:
            payload["cwd"] = None  # not the daemon's own folder
        if call.exit_code is None:
            payload["exit_code_unknown"] = True
        return kind, payload


def _call_key(call: AgentCall) -> str:
    """What pairs a tool call's pre hook with its post hook."""
    return "\0".join((call.agent, call.session or "", call.call_id or ""))


def _relative(root: Path, base: str, name: str) -> str | None:
    """`name` (absolute, or relative to `base`) as a path inside the repo; None outside it."""
    full = os.path.normpath(os.path.join(base, name))
    for candidate in dict.fromkeys((full, os.path.realpath(full))):
        try:
            rel = Path(candidate).relative_to(root).as_posix()
        except ValueError:
            continue
        if rel != "." and rel.split("/")[0] != ".git":
            return rel
    return None
