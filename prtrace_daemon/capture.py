"""Recording into the buffer, in order: spool first, then the work tree's edits, then the event.

Every command that records (note, run, a drain, and later the daemon) goes through
`Recorder.record`, so edits made before an event always get lower seqs than it, and a
commit drained from the spool is in place before the edits that follow it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prtrace_core.gitblob import EXECUTABLE, GITLINK
from prtrace_core.redact import Redactor
from prtrace_core.text import valid_utf8
from prtrace_core.timestamps import now_ts, parse_ts
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Buffer, RepoRow, Snapshot, Writer
from prtrace_daemon.edits import (
    DIRTY_MAX_FILES,
    Change,
    ScanResult,
    baseline,
    blob_snapshot,
    dirty_state,
    edit_towards,
    scan,
)
from prtrace_daemon.errors import BufferCorrupt, BufferUnavailable, NotRegistered, Paused
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.paths import Home
from prtrace_daemon.spool import (
    TRANSIENT_ERRNOS,
    SpoolDeferred,
    SpoolLine,
    is_count,
    release,
    set_aside,
    sweep_scratch,
    take_lines,
    unescape,
)
from prtrace_daemon.withheld import Withheld

__all__ = ["Recorded", "Recorder"]

log = logging.getLogger(__name__)
HANDOFF_FRESH_S = 30.0  # a handed-off event drained later than this is not preceded by a scan
_NULL_SHA = "0" * 40


@dataclass(frozen=True, slots=True)
class Recorded:
    trace_id: str
    seq: int | None
    edits: int


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


class Recorder:
    """Records events for registered repos into the buffer under PRTRACE_HOME."""

    def __init__(self, home: Home, buffer: Buffer, redactor: Redactor | None = None) -> None:
        self.home = home
        self.buffer = buffer
        self.cache = BlobCache(home.blobs)
        self.redactor = redactor or Redactor()

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

    def _registered(self, repo: GitRepo) -> RepoRow:
        row = self.buffer.repo(str(repo.root))
        if row is None:
            raise NotRegistered(f"{repo.root} is not registered with prtrace")
        return row

    def _recording(self, repo: GitRepo) -> RepoRow:
        row = self._registered(repo)
        if row.paused:
            raise Paused(f"capture is paused in {repo.root}")
        return row

    def _withheld(self, repo: GitRepo) -> Withheld:
        """The repo's files whose content is never captured (its `.prtraceignore`, read now)."""
        return Withheld.of_repo(repo.root, key=self.buffer.withheld_key())

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
        row = self._registered(repo)
        if not row.paused:
            return self.record(repo)
        self.drain()  # lines spooled while paused (a commit's) are dropped before capture restarts
        root = str(repo.root)
        with file_lock(repo_lock_path(self.home.locks, root)):
            head, branch = repo.head()
            branch = _branch(row, branch)
            before = self.buffer.snapshots(root)
            now = baseline(repo, self.cache, redactor=self.redactor, withheld=self._withheld(repo))
            changed = sorted(path for path in before.keys() | now.keys() if _changed(before.get(path), now.get(path)))
            trace = self.buffer.trace_for(root, branch)
            with self.buffer.write() as tx:
                trace_id = trace.trace_id if trace else self._open_trace(
                    tx, repo, branch, {"head_sha": head, "branch": branch, "dirty": []}
                )
                tx.replace_snapshots(root, now)
                tx.set_repo_head(root, branch, head)
                payload = {
                    "head_sha": head,
                    "branch": branch,
                    "changed_while_paused": changed[:DIRTY_MAX_FILES],
                    "omitted_files": max(0, len(changed) - DIRTY_MAX_FILES),
                }
                seq = self._append(tx, trace_id, "resume", payload)
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
            plan = self._plan(repo, within)
            with self.buffer.write() as tx:
                trace_id, edits = self._apply(tx, repo, plan, ts=ts)
                seq = None
                if type is not None:
                    seq = self._append(tx, trace_id, type, payload or {}, ts=ts)
        return Recorded(trace_id, seq, edits)

    def _plan(self, repo: GitRepo, within: Collection[str] | None = None, until_ns: int | None = None) -> _Plan:
        row = self._registered(repo)
        head, branch = repo.head()
        branch = _branch(row, branch)
        trace = self.buffer.trace_for(str(repo.root), branch)
        plan = _Plan(trace.trace_id if trace else None, branch, head)
        switched = row.last_branch is not None and row.last_branch != branch
        withheld = self._withheld(repo)
        if trace is None or switched:
            # A new branch, or a switch: the checkout rewrote the tree, and those are not the
            # developer's edits. Start again from the tree as it is now.
            plan.new_baseline = baseline(repo, self.cache, redactor=self.redactor, withheld=withheld)
            if trace is None:
                plan.start_payload = {
                    "head_sha": head,
                    "branch": branch,
                    "dirty": dirty_state(
                        repo, head, plan.new_baseline, self.cache, redactor=self.redactor, withheld=withheld
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
            plan.scanned = scan(
                repo, self.buffer.snapshots(str(repo.root), within), self.cache, within, until_ns,
                redactor=self.redactor, withheld=withheld,
            )
        return plan

    def _apply(self, tx: Writer, repo: GitRepo, plan: _Plan, *, ts: str | None = None) -> tuple[str, int]:
        """Write what the plan found. `ts`: the moment of the event the compare precedes (when it
        is not now), which the edits found take, so ts never goes backwards along the seqs."""
        root = str(repo.root)
        trace_id = plan.trace_id
        if trace_id is None:
            assert plan.start_payload is not None
            trace_id = self._open_trace(tx, repo, plan.branch, plan.start_payload, ts=ts)
        if plan.checkout_payload is not None:
            self._append(tx, trace_id, "checkout", plan.checkout_payload, ts=ts)
        if plan.new_baseline is not None:
            tx.replace_snapshots(root, plan.new_baseline)
        edits = 0
        if plan.scanned is not None:
            for path, snap in plan.scanned.touched.items():
                tx.put_snapshot(root, path, snap)
            edits = self._write_changes(tx, repo, trace_id, plan.scanned.changes, ts=ts)
        tx.set_repo_head(root, plan.branch, plan.head)
        return trace_id, edits

    # the spool

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
        for path, exc in taken.unread:
            log.warning("could not read spool file %s (kept for the next drain): %s", path.name, exc)
        done = 0
        recorded = self.buffer.done_spool_lines(line.key for line in taken.lines)
        for line in taken.lines:
            if line.key not in recorded:  # a file kept by a drain that failed part-way is read again
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
            log.warning("could not remove spool file %s (its lines are recorded): %s", path.name, exc)
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
        if line.kind == "event":
            return self._set_aside(line, NotRegistered(f"{line.repo_path} is not recorded any more"))
        return self._drop(line)

    def _set_aside(self, line: SpoolLine, exc: BaseException) -> int:
        """Move a line that failed into the quarantine, so it blocks no line behind it and is
        never lost. The line is not marked done: moved back into the spool, it is tried again."""
        import traceback  # only when a line fails

        why = self.redactor.text(f"{type(exc).__name__}: {exc}")
        log.error("set spool line %s aside in the quarantine: %s", line.key[:12], why)
        details = self.redactor.text("".join(traceback.format_exception(exc)))  # for a bug report
        try:
            set_aside(self.home.spool, replace(line, raw=self._redacted_raw(line)), f"{now_ts()} {why}\n{details}")
        except OSError as failed:
            raise SpoolDeferred(f"cannot set a failed spool line aside: {failed}") from failed
        return 0

    def _redacted_raw(self, line: SpoolLine) -> bytes:
        """The line with secrets masked in its fields, as recording it would have stored them: a
        line may wait in the quarantine for long. A hand-off's JSON is redacted as JSON."""
        parts = line.raw.rstrip(b"\n").split(b"\t")
        for at in range(4, len(parts)):
            text = parts[at].decode("utf-8", "surrogateescape")
            if line.kind == "event" and at == 5:
                try:
                    text = json.dumps(self.redactor.value(json.loads(text)))
                except ValueError:
                    text = self.redactor.text(text)
            else:
                text = self.redactor.text(text)
            parts[at] = text.encode("utf-8", "surrogateescape")
        return b"\t".join(parts) + b"\n"

    def _apply_line(self, line: SpoolLine) -> int:
        repo = GitRepo(Path(line.repo_path))
        handler = {
            "commit": self._commit_line,
            "checkout": self._checkout_line,
            "merge": self._merge_line,
            "rewrite": self._rewrite_line,
            "push": self._push_line,
            "command": self._command_line,
            "event": self._handoff_line,
        }.get(line.kind)
        if handler is None:
            return self._drop(line)  # a kind no hook of ours writes: it can never be recorded
        row = self.buffer.repo(str(repo.root))
        if row is None or row.paused or not (repo.root / ".git").exists():
            return self._not_recorded(line)  # a paused repo's lines are dropped, as it asked
        ts = line.ts if len(line.ts) == 24 and line.ts.endswith("Z") else now_ts()
        with file_lock(repo_lock_path(self.home.locks, str(repo.root))):
            return handler(repo, line, ts)

    def _commit_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """Edits that produced the commit, from its own tree (snapshot → committed blob for each
        file it touches), then the commit. Work done after the commit is left to the next scan,
        so a late drain never moves later work before the commit."""
        sha, ref = (*line.fields, "", "")[:2]
        branch = _branch(self._registered(repo), _branch_of(ref, sha))
        info = repo.commit_info(sha)
        parents = info["parents"]
        parent = parents[0] if isinstance(parents, list) and parents else None
        snaps = self.buffer.snapshots(str(repo.root))
        changes = [
            self._edit_towards(
                repo, snaps, path=c.path, new_sha=c.new_sha, new_mode=c.new_mode, old_mode=c.old_mode,
                old_path=c.old_path if c.status == "R" else None,
            )
            for c in repo.commit_changes(sha)
        ]
        trace = self.buffer.trace_for(str(repo.root), branch)
        start: dict[str, Any] | None = None
        if trace is None:  # a branch capture has not seen yet (made before the hooks were in)
            start = {"head_sha": parent, "branch": branch, "dirty": []}
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            trace_id = trace.trace_id if trace else self._open_trace(tx, repo, branch, start or {}, ts=ts)
            self._write_changes(tx, repo, trace_id, [c for c in changes if c is not None], ts=ts)
            self._append(tx, trace_id, "commit", {**info, "branch": branch}, ts=ts)
            tx.set_repo_head(str(repo.root), branch, sha)
        return 1

    def _merge_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A merge (or a pull): the files it brought in are edits toward the merged tree, taken
        from git (from where HEAD was before it), then the `merge` event."""
        sha, ref, squash, before = (*line.fields, "", "", "", "")[:4]
        branch = _branch(self._registered(repo), _branch_of(ref, sha))
        changes: list[Change] = []
        if squash != "1" and before and before != sha:
            # A squash merge leaves HEAD alone: its changes sit in the work tree for the next scan.
            snaps = self.buffer.snapshots(str(repo.root))
            for c in repo.tree_changes(before, sha):
                change = self._edit_towards(
                    repo, snaps, path=c.path, new_sha=c.new_sha, new_mode=c.new_mode, old_mode=c.old_mode, old_path=None
                )
                if change is not None:
                    changes.append(change)
        return self._event_line(
            repo, line, ts, branch, "merge", {"sha": sha, "squash": squash == "1", "branch": branch}, changes, head=sha
        )

    def _rewrite_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """An amend or a rebase rewrote commits: which old sha became which new one."""
        sha, ref, kind, flat = (*line.fields, "", "", "", "")[:4]
        mappings = []
        for entry in flat.split(";"):
            parts = entry.split()
            if len(parts) >= 2:
                mappings.append({"old_sha": parts[0], "new_sha": parts[1]})
        branch = _branch(self._registered(repo), _branch_of(ref, sha))
        return self._event_line(repo, line, ts, branch, "rewrite", {"kind": kind or "unknown", "mappings": mappings}, [])

    def _push_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A `git push`: the remote and the refs it updates (the URL's credentials are redacted)."""
        sha, ref, remote, url, flat = (*line.fields, "", "", "", "", "")[:5]
        refs = []
        for entry in flat.split(";"):
            parts = entry.split()
            if len(parts) == 4:
                refs.append(dict(zip(("local_ref", "local_sha", "remote_ref", "remote_sha"), parts, strict=True)))
        branch = _branch(self._registered(repo), _branch_of(ref, sha))
        return self._event_line(repo, line, ts, branch, "push", {"remote": remote, "url": url, "refs": refs}, [])

    def _drop(self, line: SpoolLine) -> int:
        """Mark a line done without recording it (nothing to record, or not to be recorded)."""
        with self.buffer.write() as tx:
            tx.claim_spool_line(line.key)
        return 0

    def _current_branch(self, repo: GitRepo) -> str:
        """The branch the repo is on, as the checkout hook keeps it (git asked only at first)."""
        row = self._registered(repo)
        return row.last_branch or _branch(row, repo.head()[1])

    def _command_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A command typed in an interactive shell (`prtrace shell-init`), in the trace of the
        branch the repo is on. Its output is not seen: the terminal has it."""
        exit_code, duration, cwd, pipestatus, shell, text = (*line.fields, "", "", "", "", "", "")[:6]
        command = unescape(text)
        if not command.strip() or not is_count(exit_code, signed=True):
            return self._drop(line)
        payload: dict[str, Any] = {"command": command, "exit_code": int(exit_code), "cwd": unescape(cwd) or None}
        if is_count(duration):
            payload["duration_ms"] = int(duration)
        statuses = pipestatus.split()
        if len(statuses) > 1 and all(is_count(s) for s in statuses):
            payload["pipestatus"] = [int(s) for s in statuses]
        if shell:
            payload["shell"] = shell
        return self._event_line(repo, line, ts, self._current_branch(repo), "command", payload, [])

    def _handoff_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """An event `note` or `run` handed to the daemon (see handoff.py). Drained promptly, the
        work tree is compared first, so the edits made before it (and a command's own) come
        before it, as when the CLI records in process; a line drained late is appended as it
        is, so later work is never pulled ahead of it."""
        type, raw = (*line.fields, "", "")[:2]
        try:
            payload = json.loads(raw)  # not orjson: a non-UTF-8 argument arrives as a lone surrogate
        except ValueError:
            payload = None
        if not type or not isinstance(payload, dict):
            return self._drop(line)
        if not _fresh(line.order or line.ts):  # `order`: when the line was written
            return self._event_line(repo, line, ts, self._current_branch(repo), type, payload, [])
        # Only files changed before the line was written: work done since waits for the next scan.
        plan = self._plan(repo, until_ns=line.written_ns or None)
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            trace_id, _ = self._apply(tx, repo, plan, ts=ts)  # those edits were made before the line
            self._append(tx, trace_id, type, payload, ts=ts)
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
    ) -> int:
        """Record a hook's event (after the edits it implies) in its branch's trace, once."""
        trace = self.buffer.trace_for(str(repo.root), branch)
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            trace_id = trace.trace_id if trace else self._open_trace(
                tx, repo, branch, {"head_sha": head, "branch": branch, "dirty": []}, ts=ts
            )
            self._write_changes(tx, repo, trace_id, changes, ts=ts)
            self._append(tx, trace_id, type, payload, ts=ts)
            if head is not None:
                tx.set_repo_head(str(repo.root), branch, head)
        return 1

    def _checkout_line(self, repo: GitRepo, line: SpoolLine, ts: str) -> int:
        """A branch switch: the files the checkout rewrote move in the snapshot without being
        recorded as the developer's edits, and the stream moves to the new branch's trace."""
        new_sha, ref, old_sha, flag = (*line.fields, "", "", "", "")[:4]
        row = self._registered(repo)
        if flag != "1" or not new_sha:  # a file checkout is an edit: the next scan records it
            return self._drop(line)
        branch = _branch(row, _branch_of(ref, new_sha))
        snaps = self.buffer.snapshots(str(repo.root))
        withheld = self._withheld(repo)
        moved: dict[str, Snapshot | None] = {}
        if old_sha and old_sha != _NULL_SHA and old_sha != new_sha:
            for change in repo.tree_changes(old_sha, new_sha):
                gone = change.new_sha == _NULL_SHA or change.new_mode == GITLINK  # a submodule is no file
                moved[change.path] = None if gone else blob_snapshot(
                    repo, withheld, change.path, change.new_sha, change.new_mode == EXECUTABLE
                )
        after = {**snaps, **{p: s for p, s in moved.items() if s is not None}}
        for path, snap in moved.items():
            if snap is None:
                after.pop(path, None)
        trace = self.buffer.trace_for(str(repo.root), branch)
        start: dict[str, Any] | None = None
        if trace is None:
            dirty = dirty_state(repo, new_sha, after, self.cache, redactor=self.redactor, withheld=withheld)
            start = {"head_sha": new_sha, "branch": branch, "dirty": dirty}
        checkout = {"from_branch": row.last_branch, "to_branch": branch, "from_sha": old_sha or None, "to_sha": new_sha}
        with self.buffer.write() as tx:
            if not tx.claim_spool_line(line.key):
                return 0
            if branch == row.last_branch and trace is not None and old_sha == new_sha:
                return 0  # `git checkout main` while on main
            trace_id = trace.trace_id if trace else self._open_trace(tx, repo, branch, start or {}, ts=ts)
            self._append(tx, trace_id, "checkout", checkout, ts=ts)
            for path, snap in moved.items():
                if snap is None:
                    tx.drop_snapshot(str(repo.root), path)
                else:
                    tx.put_snapshot(str(repo.root), path, snap)
            tx.set_repo_head(str(repo.root), branch, new_sha)
        return 1

    def _append(self, tx: Writer, trace_id: str, type: str, payload: dict[str, Any], *, ts: str | None = None) -> int:
        """Every event goes through here: text made valid UTF-8 (a file name or an argument may
        not be) and secrets redacted, before anything is stored. An edit whose diff lost a
        secret says so (`diff_redacted`): a replay then takes the file by its blob id instead."""
        valid = valid_utf8(payload)
        clean = self.redactor.value(valid)
        if type == "edit":
            _flag_redacted(valid, clean)
        elif type == "start" and isinstance(clean.get("dirty"), list):
            for raw, redacted in zip(valid["dirty"], clean["dirty"], strict=True):
                if isinstance(raw, dict):
                    _flag_redacted(raw, redacted)
        return tx.append(trace_id, type, clean, ts=ts)

    def _open_trace(
        self, tx: Writer, repo: GitRepo, branch: str, start: dict[str, Any], *, ts: str | None = None
    ) -> str:
        trace_id = tx.create_trace(repo_path=str(repo.root), repo_name=repo.name(), branch=branch)
        self._append(tx, trace_id, "start", start, ts=ts)
        return trace_id

    def _write_changes(self, tx: Writer, repo: GitRepo, trace_id: str, changes: list[Change], *, ts: str | None = None) -> int:
        root = str(repo.root)
        for change in changes:
            self._append(tx, trace_id, "edit", change.payload, ts=ts)
            if change.renamed_from is not None:
                tx.drop_snapshot(root, change.renamed_from)
            if change.snapshot is None:
                tx.drop_snapshot(root, change.path)
            else:
                tx.put_snapshot(root, change.path, change.snapshot)
        return len(changes)

    def _edit_towards(
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
            repo, snaps, self.cache, path=path, new_sha=new_sha, new_mode=new_mode, old_path=old_path,
            old_mode=old_mode, redactor=self.redactor, withheld=self._withheld(repo),
        )

def _branch(row: RepoRow, branch: str) -> str:
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
    return None not in (before.executable, after.executable) and before.executable != after.executable


def _flag_redacted(raw: dict[str, Any], redacted: dict[str, Any]) -> None:
    """Mark an edit (or a `start` event's dirty entry) whose diff the redactor changed."""
    if isinstance(raw.get("diff"), str) and redacted.get("diff") != raw["diff"]:
        redacted["diff_redacted"] = True


def _fresh(ts: str, within_s: float = HANDOFF_FRESH_S) -> bool:
    try:
        return (datetime.now(UTC) - parse_ts(ts)).total_seconds() <= within_s
    except ValueError:
        return False


def _branch_of(ref: str, sha: str) -> str:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else f"detached@{sha[:12]}"
