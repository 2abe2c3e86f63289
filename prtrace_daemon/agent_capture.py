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
- a shell call's pre hook records the developer's edits so far and notes when the call
  started and its command; a scan while it runs leaves what changed since then to the call
  (for at most buffer.AGENT_SHELL_TTL_NS: a call may never see its post hook). Its post hook
  records what changed since the pre hook as the agent's, then a `command` or `test` event,
  decided and parsed as `prtrace run` does. A git hook's line written while a call that runs
  git is open is the agent's (spool_events.py);
- a prompt becomes an `annotation` (`role: prompt`); a session's start and end, a stop, a
  subagent's start and stop become `agent` events, appended with no scan of the work tree.

Every event goes through `Recorder.append`, so it is redacted like any other, and each line is
marked done in the transaction that records it: a crash neither loses nor repeats one.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prtrace_core.gitblob import blob_sha
from prtrace_core.text import valid_text
from prtrace_core.timestamps import now_ts
from prtrace_daemon.agent_calls import AgentCall, FileWrite, parse_call
from prtrace_daemon.buffer import AgentCallRow, Snapshot, Writer
from prtrace_daemon.edits import Change, changed_ns, scan, split_edit, tracked_paths
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.handoff import containing_root
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


def apply_pieces(
    text: str, pieces: tuple[tuple[str, str, bool], ...], anchors: tuple[str | None, ...] = ()
) -> str | None:
    """`text` after the tool's (old → new) replacements, in order; None when one does not apply
    (its old text is not there, or is there more than once with nothing to say which), so what
    the tool wrote cannot be known from this text. With `anchors` (a patch's `@@` lines, one per
    piece) the pieces are hunks, placed as Codex places them (`_apply_hunks`)."""
    if anchors:
        return _apply_hunks(text, pieces, anchors)
    for old, new, replace_all in pieces:
        if not old:  # writing into an empty (or new) file
            if text:
                return None
            text = new
            continue
        found = text.count(old)
        if not found or (found > 1 and not replace_all):
            return None
        text = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    return text


def _apply_hunks(
    text: str, pieces: tuple[tuple[str, str, bool], ...], anchors: tuple[str | None, ...]
) -> str | None:
    """A patch's hunks applied as Codex applies them: each hunk's old lines are looked for after
    the one before it, and after its `@@` line when it has one (the first place past that line);
    a hunk with no `@@` line whose old lines occur more than once past the one before it is
    ambiguous (None). A hunk with no old lines adds its lines at the end of the file."""
    if len(anchors) != len(pieces):
        return None
    cursor = 0
    parts: list[str] = []
    added: list[str] = []
    for (old, new, _), anchor in zip(pieces, anchors, strict=True):
        if not old:
            added.append(new)
            continue
        start = cursor
        if anchor is not None:
            line = _find_line(text, anchor, cursor)
            if line is None:
                return None
            start = line  # the hunk may start at its @@ line itself
        found = _line_starts(text, old, start)
        if not found or (anchor is None and len(found) > 1):
            return None
        parts += [text[cursor : found[0]], new]
        cursor = found[0] + len(old)
    rest = text[cursor:]
    if added and rest and not rest.endswith("\n"):
        rest += "\n"
    return "".join(parts) + rest + "".join(added)


def _line_starts(text: str, needle: str, start: int) -> list[int]:
    """Where `needle` occurs in `text` from `start` on, at the start of a line."""
    found: list[int] = []
    at = text.find(needle, start)
    while at >= 0:
        if at == 0 or text[at - 1] == "\n":
            found.append(at)
        at = text.find(needle, at + 1)
    return found


def _find_line(text: str, wanted: str, start: int) -> int | None:
    """Where the first line from `start` on that is `wanted` begins: compared as it is, then
    without trailing, then without any surrounding white space (Codex's own tolerance)."""
    lines: list[tuple[int, str]] = []
    at = start
    for line in text[start:].split("\n"):
        lines.append((at, line.removesuffix("\r")))
        at += len(line) + 1
    for same in (
        lambda line: line == wanted,
        lambda line: line.rstrip() == wanted.rstrip(),
        lambda line: line.strip() == wanted.strip(),
    ):
        for offset, line in lines:
            if same(line):
                return offset
    return None


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
        call = _valid_ids(call) if call is not None else None
        root = self._repo_root(line.repo_path, call.cwd) if call is not None else None
        row = self.buffer.repo(root) if root is not None else None
        if call is None or row is None or row.paused or not Path(row.path, ".git").exists():
            return self._drop(line)
        repo = GitRepo(Path(row.path))
        ts = line.ts if len(line.ts) == 24 and line.ts.endswith("Z") else now_ts()
        at_ns = line.written_ns or time.time_ns()
        with file_lock(repo_lock_path(self.home.locks, row.path)):
            if call.hook == "prompt":
                return self._prompt(repo, line, call, ts)
            if call.hook in _SESSION_HOOKS:
                return self._session_event(repo, line, call, ts)
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
                root = containing_root(roots, candidate)
                if root is not None:
                    return root
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

    def _prompt(self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str) -> int:
        """What the developer asked the agent."""
        if not call.prompt:
            return self._drop(line)
        return self._event(
            repo, line, call, ts, "annotation", {"role": "prompt", "text": call.prompt}
        )

    def _session_event(self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str) -> int:
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
        return self._event(repo, line, call, ts, "agent", payload)

    def _event(
        self,
        repo: GitRepo,
        line: SpoolLine,
        call: AgentCall,
        ts: str,
        type: str,
        payload: dict[str, Any],
    ) -> int:
        """The agent's event, appended as it is: a prompt, a stop or a session's start says
        nothing of who changed which file, so it costs no scan of the work tree (the edits not
        yet recorded come after it, with the next scan)."""
        rec = self.recorder
        plan = rec.plan(repo, ())  # opens the trace, or takes a new baseline, when needed
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
        it names are recorded the same way. A failed tool wrote nothing: what changed in its
        files is the developer's. A file another open call also marks (a second session, a
        parallel subagent) keeps that mark: what changed beyond this tool's write is left for
        that call's post hook."""
        rec = self.recorder
        key = _call_key(call)
        opened = self.buffer.agent_call(key)
        writes = self._paths(repo, line, call)
        files = set(writes) | set(
            opened.files if opened is not None and opened.tool_kind == "edit" else ()
        )
        failed = call.hook == "tool_failed"
        actor = self._actor(call)
        others = self.buffer.marked_files(str(repo.root), time.time_ns(), excluding=key)
        plan = rec.plan(repo, ())  # opens the trace, or takes a new baseline, when needed
        edits: list[tuple[Change, Mapping[str, Any]]] = []
        touched: dict[str, Snapshot] = {}
        if failed:
            files -= others  # not this call's to record: the other call's post hook takes them
        if files and plan.scanned is not None:
            written = {} if failed else self._tool_wrote(repo, writes)
            edits, touched = self._edits(
                repo, files, written, HUMAN if failed else actor, others=others
            )
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
                result = (
                    apply_pieces(base, write.replacements, write.anchors)
                    if base is not None
                    else None
                )
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
        *,
        others: Collection[str] = (),
    ) -> tuple[list[tuple[Change, Mapping[str, Any]]], dict[str, Snapshot]]:
        """The edits from the snapshot to the disk for `files`, each with its actor: split
        where the disk holds more than the tool wrote (the part beyond it the developer's, or
        left out when another open call marks the file in `others`: its post hook records it),
        the agent's whole otherwise; and the snapshot entries refreshed without an edit."""
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
            if path not in others:
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
        tool), then note the call as open: its files marked, or (a shell call) its start and
        command, which its post hook and the git hooks' lines go by. A file written in the
        clock tick of the pre hook is taken as written after it (the tool's)."""
        rec = self.recorder
        plan = rec.plan(repo, sorted(paths) if paths else None, until_ns=at_ns - 1)
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
                command=call.command if kind == "shell" else None,
            )
        return 1

    def _shell_post(
        self, repo: GitRepo, line: SpoolLine, call: AgentCall, ts: str, at_ns: int
    ) -> int:
        """The edits the command made as the agent's: what changed between its pre and post
        hooks (the scans meanwhile left it to this call). Then the `command` or `test` event it
        is, as `prtrace run` decides. With no pre hook drained, the call's start is not known:
        what changed is the scan's."""
        rec = self.recorder
        key = _call_key(call)
        opened = self.buffer.agent_call(key)
        actor = self._actor(call)
        plan = rec.plan(repo, until_ns=at_ns, leave_to_shell_calls=opened is None)
        theirs: list[Change] = []
        if opened is not None and plan.scanned is not None:
            before: list[Change] = []
            for change in plan.scanned.changes:
                after = changed_ns(repo.root, change) >= opened.started_ns
                (theirs if after else before).append(change)
            plan.scanned.changes = before  # the developer's, made before the call began
        kind, payload = self._run_event(call, opened, at_ns)
        with self._claimed(line, call) as tx:
            if tx is None:
                return 0
            trace_id, _ = rec.apply(tx, repo, plan, ts=ts)
            rec.write_changes(tx, repo, trace_id, theirs, ts=ts, actor=actor)
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
            if kind == "test" and call.hook != "tool_failed":
                # the results say more than the missing code: failures make a run fail
                failing = (payload.get("failed") or 0) + (payload.get("errors") or 0)
                payload["exit_code"] = 1 if failing else 0
        return kind, payload


def _valid_ids(call: AgentCall) -> AgentCall:
    """The call with its ids, model and command made valid UTF-8: they are stored as text (a
    session id a hook mangled must not stop its line), the same way for a pre and its post."""
    return replace(
        call,
        session=valid_text(call.session) if call.session is not None else None,
        model=valid_text(call.model) if call.model is not None else None,
        subagent=valid_text(call.subagent) if call.subagent is not None else None,
        call_id=valid_text(call.call_id) if call.call_id is not None else None,
        command=valid_text(call.command) if call.command is not None else None,
    )


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
