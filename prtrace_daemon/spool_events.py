"""Turning spool lines into events: the drain.

Each line (spool_format.py) is recorded through the work-tree recorder (recorder.py), in the
order the lines were written: a commit with the edits that produced it, taken from its own
tree; a checkout that moves the snapshot without recording the files it rewrote as edits; a
merge, a rewrite, a push, a typed command; an event `note` or `run` handed to the daemon,
after the edits made before it; and a coding agent's hook (agent_capture.py). A git hook's line
written while an agent's shell call that runs git is open in the repo is that agent's. Each
line is marked done in the same transaction that records it, so a crash neither loses nor
repeats one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from prtrace_core.authorship import GIT
from prtrace_core.gitblob import EXECUTABLE, GITLINK
from prtrace_core.timestamps import now_ts, parse_ts
from prtrace_daemon.agent_calls import runs_git
from prtrace_daemon.authorship_store import (
    CommitLines,
    RepoAttributions,
    made_by_git,
    squash_changes,
)
from prtrace_daemon.buffer import Snapshot
from prtrace_daemon.client_errors import BufferCorrupt, BufferUnavailable, NotRegistered
from prtrace_daemon.edits import Change, blob_snapshot, dirty_state
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.recorder import HUMAN, Recorder, trace_branch
from prtrace_daemon.spool import (
    TRANSIENT_ERRNOS,
    SpoolDeferred,
    SpoolLine,
    release,
    set_aside,
    sweep_scratch,
    take_lines,
)
from prtrace_daemon.spool_format import (
    HEADER,
    AgentRecord,
    CheckoutRecord,
    CommandRecord,
    CommitRecord,
    HandoffRecord,
    MergeRecord,
    PushRecord,
    RewriteRecord,
    SpoolRecord,
)

__all__ = ["HANDOFF_FRESH_S", "SpoolInterpreter"]

log = logging.getLogger(__name__)
HANDOFF_FRESH_S = 30.0  # a handed-off event drained later than this is not preceded by a scan
_NULL_SHA = "0" * 40
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_R = TypeVar("_R", bound=SpoolRecord)


class SpoolInterpreter:
    """Drains the spool into the buffer through a `Recorder` (which drains it before it records)."""

    def __init__(self, recorder: Recorder) -> None:
        from prtrace_daemon.agent_capture import AgentCapture  # it records through this class

        self.recorder = recorder
        self.home = recorder.home
        self.buffer = recorder.buffer
        self.agents = AgentCapture(self)
        # per repo, the attributions commits borrow from: read once per drain, not per commit
        self.attributions: dict[str, RepoAttributions] = {}

    def drain(self) -> int:
        """Record every finished spool line, oldest first. Returns how many were recorded.

        A line is dropped only when it can never be anything (a kind no hook writes, a repo no
        longer recorded); one that fails for now (a full disk, no file handles) stops the drain
        and waits, with every line after it, for the next (SpoolDeferred); one whose handling
        fails otherwise is set aside in the quarantine. Spool files are removed only after
        their lines are on disk, so a power cut loses none.
        """
        try:
            with file_lock(self.home.locks / "spool.lock"):
                return self._drain_locked()
        except OSError as exc:  # the lock or the spool folder itself: nothing was taken
            raise SpoolDeferred(f"cannot drain the spool now: {exc}") from exc

    def _drain_locked(self) -> int:
        taken = take_lines(self.home.spool, self.buffer.spool_offsets())
        self.attributions = {}
        for path, exc in taken.unread:
            log.warning(
                "could not read spool file %s (kept for the next drain): %s", path.name, exc
            )
        done = 0
        recorded = self.buffer.done_spool_lines(line.key for line in taken.lines)
        for line in taken.lines:
            # a file kept by a drain that failed part-way is read again: skip what it recorded
            if line.key not in recorded:
                done += self._drain_line(line)
        finished = [path.name.removesuffix(".draining") for path in taken.files]
        if taken.files:
            # Recorded with synchronous=NORMAL, the lines' commits may still sit in the OS's
            # cache: one synced commit puts them on disk before their spool files go.
            with self.buffer.durable_write() as tx:
                tx.save_spool_offsets(taken.offsets, finished)
        elif taken.offsets:
            with self.buffer.write() as tx:
                tx.save_spool_offsets(taken.offsets, finished)
        for path, exc in release(taken.files):
            log.warning(
                "could not remove spool file %s (its lines are recorded): %s", path.name, exc
            )
        if taken.files:
            sweep_scratch(self.home.shell)  # a shell that exited leaves its scratch files behind
        return done

    def _drain_line(self, line: SpoolLine) -> int:
        """Record one line; raise SpoolDeferred when it must wait, set it aside when it fails."""
        try:
            return self._apply_line(line)
        except (BufferUnavailable, BufferCorrupt):
            raise  # the buffer cannot take it now: the line waits for the next drain
        except NotRegistered:
            return self._not_recorded(line)  # unregistered while the line was being recorded
        except OSError as exc:
            if exc.errno in TRANSIENT_ERRNOS:
                raise SpoolDeferred(f"a spool line waits for the next drain: {exc}") from exc
            return self._set_aside(line, exc)
        except Exception as exc:  # a line we failed to foresee, or a bug in its handling
            return self._set_aside(line, exc)

    def _not_recorded(self, line: SpoolLine) -> int:
        """A line for a repo that is paused, unregistered or gone: the developer asked for no
        capture there, or there is nowhere to record it. Dropped, except a `note` or `run` the
        CLI confirmed, which is set aside rather than lost."""
        if line.kind == HandoffRecord.kind:
            return self._set_aside(
                line, NotRegistered(f"{line.repo_path} is not recorded any more")
            )
        return self._drop(line)

    def _set_aside(self, line: SpoolLine, exc: BaseException) -> int:
        """Move a line that failed into the quarantine, so it blocks no line behind it and is
        never lost. The line is not marked done: moved back into the spool, it is tried again."""
        import traceback  # only when a line fails

        redactor = self.recorder.redactor
        why = redactor.text(f"{type(exc).__name__}: {exc}")
        log.error("set spool line %s aside in the quarantine: %s", line.key[:12], why)
        details = redactor.text("".join(traceback.format_exception(exc)))  # for a bug report
        try:
            set_aside(
                self.home.spool,
                replace(line, raw=self._redacted_raw(line)),
                f"{now_ts()} {why}\n{details}",
            )
        except OSError as failed:
            raise SpoolDeferred(f"cannot set a failed spool line aside: {failed}") from failed
        return 0

    def _redacted_raw(self, line: SpoolLine) -> bytes:
        """The line with secrets masked in its fields, as recording it would have stored them: a
        line may wait in the quarantine for long. A hand-off's JSON is redacted as JSON."""
        redactor = self.recorder.redactor
        payload_at = HEADER + HandoffRecord.FIELDS.index("payload")
        parts = line.raw.rstrip(b"\n").split(b"\t")
        for at in range(HEADER, len(parts)):
            text = parts[at].decode("utf-8", "surrogateescape")
            if line.kind == HandoffRecord.kind and at == payload_at:
                try:
                    text = json.dumps(redactor.value(json.loads(text)))
                except ValueError:
                    text = redactor.text(text)
            else:
                text = redactor.text(text)
            parts[at] = text.encode("utf-8", "surrogateescape")
        return b"\t".join(parts) + b"\n"

    def _apply_line(self, line: SpoolLine) -> int:
        if line.kind == AgentRecord.kind:
            return self.agents.drain_line(line)  # its repo is found from the agent's folder
        repo = GitRepo(Path(line.repo_path))
        handler = {
            CommitRecord.kind: self._commit_line,
            CheckoutRecord.kind: self._checkout_line,
            MergeRecord.kind: self._merge_line,
            RewriteRecord.kind: self._rewrite_line,
            PushRecord.kind: self._push_line,
            CommandRecord.kind: self._command_line,
            HandoffRecord.kind: self._handoff_line,
        }.get(line.kind)
        if handler is None:
            return self._drop(line)  # a kind no hook of ours writes: it can never be recorded
        row = self.buffer.repo(str(repo.root))
        if row is None or row.paused or not (repo.root / ".git").exists():
            return self._not_recorded(line)  # a paused repo's lines are dropped, as it asked
        if line.record is None:
            return self._drop(line)  # fields no writer of ours writes: it can never be recorded
        ts = line.ts if len(line.ts) == 24 and line.ts.endswith("Z") else now_ts()
        with file_lock(repo_lock_path(self.home.locks, str(repo.root))):
            return handler(repo, line, ts)

    def _git_actor(self, repo: GitRepo, line: SpoolLine) -> Mapping[str, Any]:
        """Who ran the git command a hook's line records: the agent whose open shell call (the
        latest) runs git and was running in the repo when the hook wrote the line, else the
        developer. A call whose command runs no git did not commit, whatever it did."""
        calls = self.buffer.open_shell_calls(str(repo.root), line.written_ns or time.time_ns())
        call = next((c for c in calls if runs_git(c.command)), None)
        return call.actor if call is not None else HUMAN

    def _branch(self, repo: GitRepo, ref: str, sha: str) -> str:
        """The trace a git hook's line belongs to, from the ref HEAD named."""
        return trace_branch(self.recorder.registered(repo), _branch_of(ref, sha))

    def _commit_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """Edits that produced the commit, from its own tree (snapshot → committed blob for each
        file it touches), then the commit. Work done after the commit is left to the next scan,
        so a late drain never moves later work before the commit."""
        record = _record(line, CommitRecord)
        rec = self.recorder
        sha = record.sha
        branch = self._branch(repo, record.ref, sha)
        info = repo.commit_info(sha)
        parents = info["parents"]
        parent = parents[0] if isinstance(parents, list) and parents else None
        snaps = self.buffer.snapshots(str(repo.root))
        committed = repo.commit_changes(sha)
        changes = [
            rec.edit_towards(
                repo,
                snaps,
                path=c.path,
                new_sha=c.new_sha,
                new_mode=c.new_mode,
                old_mode=c.old_mode,
                old_path=c.old_path if c.status == "R" else None,
            )
            for c in committed
        ]
        trace = self.buffer.trace_for(str(repo.root), branch)
        start: dict[str, Any] | None = None
        if trace is None:  # a branch capture has not seen yet (made before the hooks were in)
            start = {"head_sha": parent, "branch": branch, "dirty": []}
        by_git = made_by_git(repo, sha)  # a rebase, a cherry-pick: the edits are git's
        sources = self.attributions.setdefault(str(repo.root), RepoAttributions(self.buffer, repo))
        lines = CommitLines.prepare(
            rec, repo, committed, trace=trace, by_git=by_git, sha=sha, sources=sources
        )
        actor = self._git_actor(repo, line)
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            trace_id = (
                trace.trace_id if trace else rec.open_trace(tx, repo, branch, start or {}, ts=ts)
            )
            made = [c for c in changes if c is not None]
            rec.write_changes(tx, repo, trace_id, made, ts=ts, actor=GIT if by_git else actor)
            authorship = lines.apply(tx)  # after its edits moved the line authors
            payload = {**info, "branch": branch, **authorship}
            rec.append(tx, trace_id, "commit", payload, ts=ts, actor=actor)
            tx.set_repo_head(str(repo.root), branch, sha)
        return 1

    def _merge_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A merge (or a pull): the files it brought in are git's edits toward the merged tree,
        taken from git (from where HEAD was before it; a squash merge leaves HEAD alone and
        stages them: the index against HEAD), then the `merge` event."""
        record = _record(line, MergeRecord)
        sha, before = record.sha, record.before
        branch = self._branch(repo, record.ref, sha)
        changes: list[Change] = []
        brought = (
            squash_changes(repo, sha)
            if record.squash
            else repo.tree_changes(before, sha)
            if before and before != sha
            else []
        )
        if brought:
            snaps = self.buffer.snapshots(str(repo.root))
            for c in brought:
                change = self.recorder.edit_towards(
                    repo,
                    snaps,
                    path=c.path,
                    new_sha=c.new_sha,
                    new_mode=c.new_mode,
                    old_mode=c.old_mode,
                    old_path=None,
                )
                if change is not None:
                    changes.append(change)
        payload = {"sha": sha, "squash": record.squash, "branch": branch}
        return self._event_line(
            repo,
            line,
            ts,
            branch,
            "merge",
            payload,
            changes,
            head=sha,
            actor=self._git_actor(repo, line),
            edits_actor=GIT,
        )

    def _rewrite_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """An amend or a rebase rewrote commits: which old sha became which new one."""
        record = _record(line, RewriteRecord)
        mappings = [{"old_sha": old, "new_sha": new} for old, new in record.mappings]
        branch = self._branch(repo, record.ref, record.sha)
        payload = {"kind": record.how or "unknown", "mappings": mappings}
        return self._event_line(
            repo, line, ts, branch, "rewrite", payload, [], actor=self._git_actor(repo, line)
        )

    def _push_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A `git push`: the remote and the refs it updates (the URL's credentials are redacted)."""
        record = _record(line, PushRecord)
        names = ("local_ref", "local_sha", "remote_ref", "remote_sha")
        refs = [dict(zip(names, entry, strict=True)) for entry in record.refs]
        branch = self._branch(repo, record.ref, record.sha)
        payload = {"remote": record.remote, "url": record.url, "refs": refs}
        return self._event_line(
            repo, line, ts, branch, "push", payload, [], actor=self._git_actor(repo, line)
        )

    def _drop(self, line: SpoolLine) -> int:
        """Mark a line done without recording it (nothing to record, or not to be recorded)."""
        with self.buffer.write() as tx:
            tx.claim_spool_line(line.key)
        return 0

    def _command_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A command typed in an interactive shell (`prtrace shell-init`), in the trace of the
        branch the repo is on. Its output is not seen: the terminal has it."""
        record = _record(line, CommandRecord)
        payload: dict[str, Any] = {
            "command": record.command,
            "exit_code": record.exit_code,
            "cwd": record.cwd or None,
        }
        if record.duration_ms is not None:
            payload["duration_ms"] = record.duration_ms
        if len(record.pipestatus) > 1:
            payload["pipestatus"] = list(record.pipestatus)
        if record.shell:
            payload["shell"] = record.shell
        return self._event_line(
            repo, line, ts, self.recorder.current_branch(repo), "command", payload, []
        )

    def _handoff_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """An event `note` or `run` handed to the daemon (see handoff.py). Drained promptly, the
        work tree is compared first, so the edits made before it (and a command's own) come
        before it, as when the CLI records in process; a line drained late is appended as it
        is, so later work is never pulled ahead of it."""
        record = _record(line, HandoffRecord)
        rec = self.recorder
        if not _fresh(line.order or line.ts):  # `order`: when the line was written
            return self._event_line(
                repo, line, ts, rec.current_branch(repo), record.type, record.payload, []
            )
        # Only files changed before the line was written: work done since waits for the next scan.
        plan = rec.plan(repo, until_ns=line.written_ns or None)
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            trace_id, _ = rec.apply(tx, repo, plan, ts=ts)  # those edits were made before the line
            rec.append(tx, trace_id, record.type, record.payload, ts=ts)
        return 1

    def _event_line(
        self,
        repo: GitRepo,
        line: SpoolLine,
        ts: str,
        branch: str,
        type: str,
        payload: dict[str, Any],
        changes: list[Change],
        *,
        head: str | None = None,
        actor: Mapping[str, Any] = HUMAN,
        edits_actor: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a hook's event (after the edits it implies) in its branch's trace, once, as
        `actor`'s (the start of a trace it opens stays the developer's); the edits are
        `edits_actor`'s when given (git's, for a merge)."""
        rec = self.recorder
        trace = self.buffer.trace_for(str(repo.root), branch)
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            trace_id = (
                trace.trace_id
                if trace
                else rec.open_trace(
                    tx, repo, branch, {"head_sha": head, "branch": branch, "dirty": []}, ts=ts
                )
            )
            rec.write_changes(tx, repo, trace_id, changes, ts=ts, actor=edits_actor or actor)
            rec.append(tx, trace_id, type, payload, ts=ts, actor=actor)
            if head is not None:
                tx.set_repo_head(str(repo.root), branch, head)
        return 1

    def _checkout_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A branch switch: the files the checkout rewrote move in the snapshot without being
        recorded as the developer's edits, and the stream moves to the new branch's trace."""
        record = _record(line, CheckoutRecord)
        rec = self.recorder
        new_sha, old_sha = record.sha, record.previous
        row = rec.registered(repo)
        # A file checkout is an edit, and a switch to an unborn branch (`checkout --orphan`: HEAD
        # names no commit, the hook wrote `HEAD` for it) has no tree to move to: the next
        # compare of the work tree records either, and sees the switch.
        if not record.branch or not _OBJECT_ID.fullmatch(new_sha):
            return self._drop(line)
        branch = trace_branch(row, _branch_of(record.ref, new_sha))
        snaps = self.buffer.snapshots(str(repo.root))
        withheld = rec.withheld(repo)
        moved: dict[str, Snapshot | None] = {}
        if old_sha and old_sha != _NULL_SHA and old_sha != new_sha:
            for change in repo.tree_changes(old_sha, new_sha):
                # a submodule is no file
                gone = change.new_sha == _NULL_SHA or change.new_mode == GITLINK
                moved[change.path] = (
                    None
                    if gone
                    else blob_snapshot(
                        repo, withheld, change.path, change.new_sha, change.new_mode == EXECUTABLE
                    )
                )
        after = {**snaps, **{p: s for p, s in moved.items() if s is not None}}
        for path, snap in moved.items():
            if snap is None:
                after.pop(path, None)
        trace = self.buffer.trace_for(str(repo.root), branch)
        start: dict[str, Any] | None = None
        if trace is None:
            dirty = dirty_state(
                repo, new_sha, after, rec.cache, redactor=rec.redactor, withheld=withheld
            )
            start = {"head_sha": new_sha, "branch": branch, "dirty": dirty}
        actor = self._git_actor(repo, line)
        checkout = {
            "from_branch": row.last_branch,
            "to_branch": branch,
            "from_sha": old_sha or None,
            "to_sha": new_sha,
        }
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            if branch == row.last_branch and trace is not None and old_sha == new_sha:
                return 0  # `git checkout main` while on main
            trace_id = (
                trace.trace_id if trace else rec.open_trace(tx, repo, branch, start or {}, ts=ts)
            )
            rec.append(tx, trace_id, "checkout", checkout, ts=ts, actor=actor)
            for path, snap in moved.items():
                if snap is None:
                    tx.drop_snapshot(str(repo.root), path)
                else:
                    tx.put_snapshot(str(repo.root), path, snap)
            tx.set_repo_head(str(repo.root), branch, new_sha)
        return 1


def _record(line: SpoolLine, kind: type[_R]) -> _R:
    """The line's record, of the kind its handler was chosen for."""
    if not isinstance(line.record, kind):  # _apply_line dispatches by kind: never, barring a bug
        raise TypeError(
            f"a {line.kind} line holds {type(line.record).__name__}, not {kind.__name__}"
        )
    return line.record


def _fresh(ts: str, within_s: float = HANDOFF_FRESH_S) -> bool:
    try:
        return (datetime.now(UTC) - parse_ts(ts)).total_seconds() <= within_s
    except ValueError:
        return False


def _branch_of(ref: str, sha: str) -> str:
    return (
        ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else f"detached@{sha[:12]}"
    )
