"""The work-tree recorder: compares a registered repo's tree with what was last recorded,
plans the edits that differ, and writes them and the event they precede, in order; pauses and
resumes capture.

Every command that records (note, run, a drain, the daemon) goes through `Recorder.record`,
which drains the spool first (spool_events.py), so edits made before an event always get
lower seqs than it, and a commit drained from the spool is in place before the edits that
follow it. The spool's lines record through the same primitives (`plan`, `apply`, `append`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prtrace_core.redact import Redactor
from prtrace_core.text import valid_utf8
from prtrace_daemon.authorship_store import advance_lines
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import AGENT_SHELL_TTL_NS, Buffer, RepoRow, Snapshot, Writer
from prtrace_daemon.client_errors import NotRegistered, Paused
from prtrace_daemon.edits import (
    DIRTY_MAX_FILES,
    Change,
    ScanResult,
    baseline,
    changed_ns,
    dirty_state,
    edit_towards,
    scan,
)
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.paths import Home
from prtrace_daemon.withheld import Withheld

__all__ = ["HUMAN", "Recorded", "Recorder", "trace_branch"]

log = logging.getLogger(__name__)

# The actor of what the developer does (DESIGN §3): every event the client records carries one.
HUMAN: Mapping[str, str] = MappingProxyType({"kind": "human"})


@dataclass(frozen=True, slots=True)
class Recorded:
    trace_id: str
    seq: int | None
    edits: int
    # changes left to agents' open shell calls, and when the last of those calls expires: the
    # daemon looks at them again then, so work no post hook claims is recorded (as the developer's)
    held: tuple[str, ...] = ()
    held_until_ns: int | None = None


@dataclass(slots=True)
class _Plan:
    """What one compare of the work tree decided, computed outside the write transaction."""

    trace_id: str | None
    branch: str
    head: str | None
    new_baseline: dict[str, Snapshot] | None = None
    start_payload: dict[str, Any] | None = None
    checkout_payload: dict[str, Any] | None = None
    scanned: ScanResult | None = None
    held: tuple[str, ...] = ()  # paths left to agents' open shell calls
    held_until_ns: int | None = None


class Recorder:
    """Records events for registered repos into the buffer under PRTRACE_HOME."""

    def __init__(self, home: Home, buffer: Buffer, redactor: Redactor | None = None) -> None:
        from prtrace_daemon.spool_events import SpoolInterpreter  # it records through this class

        self.home = home
        self.buffer = buffer
        self.cache = BlobCache(home.blobs)
        self.redactor = redactor or Redactor()
        self.spool_interpreter = SpoolInterpreter(self)

    # registration

    def register(self, repo: GitRepo) -> bool:
        """Register the repo; True when it is new."""
        new = self.buffer.register_repo(str(repo.root), repo.name())
        self._write_repos_list()
        return new

    def unregister(self, repo: GitRepo) -> None:
        self.buffer.unregister_repo(str(repo.root))
        self._write_repos_list()

    def _write_repos_list(self) -> None:
        """Keep `repos` (read by shell hooks, which start no Python) in step with the buffer."""
        listing = "".join(f"{row.path}\n" for row in self.buffer.repos() if not row.paused)
        tmp = self.home.repos_list.with_suffix(".tmp")
        tmp.write_text(listing, encoding="utf-8")
        os.replace(tmp, self.home.repos_list)

    def registered(self, repo: GitRepo) -> RepoRow:
        """The repo's row; NotRegistered when capture does not know it."""
        row = self.buffer.repo(str(repo.root))
        if row is None:
            raise NotRegistered(f"{repo.root} is not registered with prtrace")
        return row

    def _recording(self, repo: GitRepo) -> RepoRow:
        row = self.registered(repo)
        if row.paused:
            raise Paused(f"capture is paused in {repo.root}")
        return row

    def withheld(self, repo: GitRepo) -> Withheld:
        """The repo's files whose content is never captured (its `.prtraceignore`, read now)."""
        return Withheld.of_repo(repo.root, key=self.buffer.withheld_key())

    def current_branch(self, repo: GitRepo) -> str:
        """The branch the repo is on, as the checkout hook keeps it (git asked only at first)."""
        row = self.registered(repo)
        return row.last_branch or trace_branch(row, repo.head()[1])

    def drain(self) -> int:
        """Record every finished spool line, oldest first; how many were recorded (see
        `SpoolInterpreter.drain`)."""
        return self.spool_interpreter.drain()

    # pausing

    def pause(self, repo: GitRepo) -> Recorded:
        """Record what was done up to now and a `pause` event, then stop capture in the repo: no
        edit, command, commit or note is recorded until `resume`, and the shell hooks (which
        read `repos`) and the daemon leave it alone."""
        recorded = self.record(repo, "pause", {})
        self.buffer.set_paused(str(repo.root), True)
        self._write_repos_list()
        return recorded

    def resume(self, repo: GitRepo) -> Recorded:
        """Capture again from the tree as it is now. What was done while paused is not recorded:
        a `resume` event names the files that changed meanwhile (not their contents), so a
        reader knows why the next edit of one of them does not start where the last one ended."""
        row = self.registered(repo)
        if not row.paused:
            return self.record(repo)
        self.drain()  # lines spooled while paused (a commit's) are dropped before capture restarts
        root = str(repo.root)
        with file_lock(repo_lock_path(self.home.locks, root)):
            head, branch = repo.head()
            branch = trace_branch(row, branch)
            before = self.buffer.snapshots(root)
            now = baseline(repo, self.cache, redactor=self.redactor, withheld=self.withheld(repo))
            changed = sorted(
                path
                for path in before.keys() | now.keys()
                if _changed(before.get(path), now.get(path))
            )
            trace = self.buffer.trace_for(root, branch)
            with self.buffer.write() as tx:
                trace_id = (
                    trace.trace_id
                    if trace
                    else self.open_trace(
                        tx, repo, branch, {"head_sha": head, "branch": branch, "dirty": []}
                    )
                )
                tx.replace_snapshots(root, now)
                tx.set_repo_head(root, branch, head)
                payload = {
                    "head_sha": head,
                    "branch": branch,
                    "changed_while_paused": changed[:DIRTY_MAX_FILES],
                    "omitted_files": max(0, len(changed) - DIRTY_MAX_FILES),
                }
                seq = self.append(tx, trace_id, "resume", payload)
        self.buffer.set_paused(root, False)
        self._write_repos_list()
        return Recorded(trace_id, seq, 0)

    # the one way in

    def record(
        self,
        repo: GitRepo,
        type: str | None = None,
        payload: dict[str, Any] | None = None,
        *,
        ts: str | None = None,
        within: Collection[str] | None = None,
    ) -> Recorded:
        """Drain the spool, record the work tree's edits, then (when given) the event itself.

        `within` limits the edit scan to paths known to have changed (the watcher's).
        """
        self._recording(repo)
        self.drain()
        with file_lock(repo_lock_path(self.home.locks, str(repo.root))):
            plan = self.plan(repo, within)
            with self.buffer.write() as tx:
                trace_id, edits = self.apply(tx, repo, plan, ts=ts)
                seq = None
                if type is not None:
                    seq = self.append(tx, trace_id, type, payload or {}, ts=ts)
        return Recorded(trace_id, seq, edits, plan.held, plan.held_until_ns)

    def plan(
        self,
        repo: GitRepo,
        within: Collection[str] | None = None,
        until_ns: int | None = None,
        *,
        leave_to_shell_calls: bool = True,
    ) -> _Plan:
        """Compare the work tree (only `within`, when given; only files changed before `until_ns`,
        when given) with what was recorded, outside any write transaction. What changed since an
        agent's shell call began is left to that call (unless `leave_to_shell_calls` is off: the
        call's own post hook)."""
        row = self.registered(repo)
        head, branch = repo.head()
        branch = trace_branch(row, branch)
        trace = self.buffer.trace_for(str(repo.root), branch)
        plan = _Plan(trace.trace_id if trace else None, branch, head)
        switched = row.last_branch is not None and row.last_branch != branch
        withheld = self.withheld(repo)
        if trace is None or switched:
            # A new branch, or a switch: the checkout rewrote the tree, and those are not the
            # developer's edits. Start again from the tree as it is now.
            plan.new_baseline = baseline(
                repo, self.cache, redactor=self.redactor, withheld=withheld
            )
            if trace is None:
                plan.start_payload = {
                    "head_sha": head,
                    "branch": branch,
                    "dirty": dirty_state(
                        repo,
                        head,
                        plan.new_baseline,
                        self.cache,
                        redactor=self.redactor,
                        withheld=withheld,
                    ),
                }
            if switched:
                plan.checkout_payload = {
                    "from_branch": row.last_branch,
                    "to_branch": branch,
                    "from_sha": row.last_head,
                    "to_sha": head,
                }
        else:
            now_ns = until_ns or time.time_ns()
            plan.scanned = scan(
                repo,
                self.buffer.snapshots(str(repo.root), within),
                self.cache,
                within,
                until_ns,
                redactor=self.redactor,
                withheld=withheld,
                skip=self.buffer.marked_files(str(repo.root), now_ns),
            )
            if leave_to_shell_calls:
                self._leave_to_shell_calls(repo, plan, now_ns)
        return plan

    def _leave_to_shell_calls(self, repo: GitRepo, plan: _Plan, now_ns: int) -> None:
        """Leave what changed since an agent's shell call began to that call's post hook: an
        edit with an agent call around it is the agent's (a formatter, a code generator, a
        `sed -i` the agent ran), and the daemon's scan 0.3 s after the write must not take it
        first. A call whose post hook never comes (denied, still running) holds them no longer
        than buffer.AGENT_SHELL_TTL_NS; then the scan records them as usual."""
        calls = self.buffer.open_shell_calls(str(repo.root), now_ns)
        if not calls or plan.scanned is None:
            return
        began = min(call.started_ns for call in calls)
        kept: list[Change] = []
        held: list[str] = []
        for change in plan.scanned.changes:  # one pass: a formatter's run may change thousands
            if changed_ns(repo.root, change) < began:
                kept.append(change)
            else:
                held.append(change.path)
        if held:
            plan.held = tuple(held)
            plan.held_until_ns = max(call.started_ns for call in calls) + AGENT_SHELL_TTL_NS
            plan.scanned.changes = kept

    def apply(
        self,
        tx: Writer,
        repo: GitRepo,
        plan: _Plan,
        *,
        ts: str | None = None,
        actor: Mapping[str, Any] | None = None,
    ) -> tuple[str, int]:
        """Write what the plan found. `ts`: the moment of the event the compare precedes (when it
        is not now), which the edits found take, so ts never goes backwards along the seqs.
        `actor`: whose the edits are, when the caller knows better than the plan."""
        root = str(repo.root)
        trace_id = plan.trace_id
        if trace_id is None:
            assert plan.start_payload is not None
            trace_id = self.open_trace(tx, repo, plan.branch, plan.start_payload, ts=ts)
        if plan.checkout_payload is not None:
            self.append(tx, trace_id, "checkout", plan.checkout_payload, ts=ts)
        if plan.new_baseline is not None:
            tx.replace_snapshots(root, plan.new_baseline)
        edits = 0
        if plan.scanned is not None:
            for path, snap in plan.scanned.touched.items():
                tx.put_snapshot(root, path, snap)
            edits = self.write_changes(
                tx, repo, trace_id, plan.scanned.changes, ts=ts, actor=actor
            )
        tx.set_repo_head(root, plan.branch, plan.head)
        return trace_id, edits

    def append(
        self,
        tx: Writer,
        trace_id: str,
        type: str,
        payload: dict[str, Any],
        *,
        ts: str | None = None,
        actor: Mapping[str, Any] | None = None,
    ) -> int:
        """Every event goes through here: text made valid UTF-8 (a file name or an argument may
        not be) and secrets redacted, before anything is stored. An edit whose diff lost a
        secret says so (`diff_redacted`): a replay then takes the file by its blob id instead.
        `actor`: who did it (the developer when not given), part of the event id."""
        valid = valid_utf8(payload)
        clean = self.redactor.value(valid)
        if type == "edit":
            _flag_redacted(valid, clean)
        elif type == "start" and isinstance(clean.get("dirty"), list):
            for raw, redacted in zip(valid["dirty"], clean["dirty"], strict=True):
                if isinstance(raw, dict):
                    _flag_redacted(raw, redacted)
        # not redacted: an agent's session id is a random string a rule might mistake for a key,
        # and a changed one would no longer tie the session's events together
        who = valid_utf8(dict(actor or HUMAN))
        return tx.append(trace_id, type, clean, ts=ts, actor=who)

    def open_trace(
        self,
        tx: Writer,
        repo: GitRepo,
        branch: str,
        start: dict[str, Any],
        *,
        ts: str | None = None,
        actor: Mapping[str, Any] | None = None,
    ) -> str:
        """A new trace for the branch, its `start` event first."""
        trace_id = tx.create_trace(repo_path=str(repo.root), repo_name=repo.name(), branch=branch)
        self.append(tx, trace_id, "start", start, ts=ts, actor=actor)
        return trace_id

    def write_changes(
        self,
        tx: Writer,
        repo: GitRepo,
        trace_id: str,
        changes: list[Change],
        *,
        ts: str | None = None,
        actor: Mapping[str, Any] | None = None,
    ) -> int:
        """Append an `edit` per change and move the snapshots with them; how many. The one
        place edits are written, whoever made them (`actor`: the developer when not given)."""
        root = str(repo.root)
        for change in changes:
            self.append(tx, trace_id, "edit", change.payload, ts=ts, actor=actor)
            advance_lines(tx, repo, change, actor or HUMAN, cache=self.cache, redactor=self.redactor)
            if change.renamed_from is not None:
                tx.drop_snapshot(root, change.renamed_from)
            if change.snapshot is None:
                tx.drop_snapshot(root, change.path)
            else:
                tx.put_snapshot(root, change.path, change.snapshot)
        return len(changes)

    def edit_towards(
        self,
        repo: GitRepo,
        snaps: dict[str, Snapshot],
        *,
        path: str,
        new_sha: str,
        new_mode: str,
        old_path: str | None,
        old_mode: str = "",
    ) -> Change | None:
        """The edit that takes the snapshot of `path` to blob `new_sha` with git mode `new_mode`
        (None: nothing to record); see `edits.edit_towards`."""
        return edit_towards(
            repo,
            snaps,
            self.cache,
            path=path,
            new_sha=new_sha,
            new_mode=new_mode,
            old_path=old_path,
            old_mode=old_mode,
            redactor=self.redactor,
            withheld=self.withheld(repo),
        )


def trace_branch(row: RepoRow, branch: str) -> str:
    """The trace a detached HEAD's work belongs to: the branch checked out before it (a rebase
    or cherry-pick replays that branch), so it does not open a new trace per commit."""
    if branch.startswith("detached@") and row.last_branch:
        return row.last_branch
    return branch


def _changed(before: Snapshot | None, after: Snapshot | None) -> bool:
    """Whether a file's content or executable bit (when both are known) differs."""
    if before is None or after is None:
        return before is not after
    if before.blob_sha != after.blob_sha:
        return True
    return (
        None not in (before.executable, after.executable) and before.executable != after.executable
    )


def _flag_redacted(raw: dict[str, Any], redacted: dict[str, Any]) -> None:
    """Mark an edit (or a `start` event's dirty entry) whose diff the redactor changed."""
    if isinstance(raw.get("diff"), str) and redacted.get("diff") != raw["diff"]:
        redacted["diff_redacted"] = True
