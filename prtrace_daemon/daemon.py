"""The capture daemon: watches every registered repo and records edits as they happen.

Threads: watchdog's observer delivers file-system events to `_Handler`, which only notes the
path and the time. The main loop sleeps on a condition until the earliest pending path has
been quiet for the debounce window (editors write a temp file, rename it, touch it again: one
save must be one edit), then records those paths through the same `Recorder` the CLI uses.
Nothing polls: with no events the loop waits without a timeout.

With a server set, a third thread pushes (autopush.py): soon after a drain records a commit
or a push, and every few minutes while events wait. Capture never waits for it.

A drain or a record that fails (a full disk, no file handles, a bug) is logged and tried again
RETRY_S later (a drain that keeps failing, less and less often); the daemon keeps running.
daemon.log is a plain file: every record goes through the redactor first, since an exception's
text may quote a command line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from prtrace_core.errors import PrtraceError
from prtrace_core.redact import Redactor
from prtrace_core.timestamps import now_ts
from prtrace_daemon.autopush import AutoPusher
from prtrace_daemon.buffer import Buffer
from prtrace_daemon.client_errors import BufferUnavailable, GitFailed, NotAGitRepo, NotRegistered
from prtrace_daemon.config import load_settings
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.paths import Home
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.spool import spool_waiting
from prtrace_daemon.watchplan import ALWAYS_PRUNED, plan_watches

__all__ = ["DEBOUNCE_S", "Daemon", "RedactingFilter", "read_state", "redact_logs"]

log = logging.getLogger("prtrace.daemon")

DEBOUNCE_S = 0.3  # quiet time before a file's changes are recorded
MAX_DELAY_S = 2.0  # a file written without pause is still recorded this often
RETRY_S = 5.0  # after a failed write (a full disk), try again this much later
MAX_RETRY_S = 300.0  # a drain failing again and again is retried at least this often
TARGETED_MAX = 256  # more changed paths than this at once: scan the whole tree instead
PUSH_SOON_TYPES = ("commit", "push")  # recorded from the git hooks: the daemon pushes soon after


@dataclass
class _Repo:
    root: Path
    watches: list[ObservedWatch] = field(default_factory=list)
    # path -> (first, last) time seen; FULL_SCAN stands for "HEAD moved: look at everything"
    pending: dict[str, tuple[float, float]] = field(default_factory=dict)


FULL_SCAN = "."


class _Handler(FileSystemEventHandler):
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        for raw in paths:
            if raw:
                self.daemon.note(os.fsdecode(raw), is_dir=event.is_directory, kind=event.event_type)


class Daemon:
    """One per user: watches the registered repos under `home` until stopped."""

    def __init__(self, home: Home, *, debounce_s: float = DEBOUNCE_S) -> None:
        self.home = home
        self.debounce_s = debounce_s
        self.buffer = Buffer(home.buffer)
        # A bad user pattern is reported by the commands that load the config; capture goes
        # on with the rest of the rules.
        redactor = Redactor(load_settings(home.config, check=False).redact_patterns, skip_invalid=True)
        self.recorder = Recorder(home, self.buffer, redactor)
        self.pusher = AutoPusher(home, redact=self.recorder.redactor.text)
        self._told_pusher: set[tuple[str, int]] = set()  # the commits and pushes it was nudged for
        self.observer: BaseObserver = Observer()
        self.handler = _Handler(self)
        self.repos: dict[Path, _Repo] = {}
        self.started_at = now_ts()
        self._cond = threading.Condition()
        self._stop = False
        self._spool_dirty = False
        self._repos_dirty = False
        self._retry_at: float | None = None
        self._drain_retry_at: float | None = None  # a drain that failed, or left a file behind
        self._drain_failures = 0  # in a row: each doubles the wait, so a damaged buffer does not flood the log

    # life

    def run(self) -> None:
        """Catch up, watch, and record until `stop()` (or SIGTERM / SIGINT)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        restore_logs = redact_logs(self.recorder.redactor)
        for refused in self.recorder.redactor.refused:  # after the filter: a pattern may hold a secret
            log.warning("left out of redaction: %s", refused)
        self.observer.schedule(self.handler, str(self.home.root), recursive=False)
        self.observer.schedule(self.handler, str(self.home.spool), recursive=False)
        self.observer.start()
        try:
            self._reload_repos()
            self._drain()
            self._write_state()
            self.pusher.start()  # after the catch-up, so its first push carries it
            log.info("watching %d repo(s)", len(self.repos))
            self._loop()
        finally:
            self.pusher.stop()
            self.observer.stop()
            self.observer.join(timeout=5)
            self.buffer.close()
            self._state_path.unlink(missing_ok=True)
            log.info("stopped")
            restore_logs()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    # events (observer thread)

    def note(self, path: str, *, is_dir: bool, kind: str) -> None:
        """Remember a changed path; cheap, so the observer thread never falls behind."""
        target = Path(path)
        with self._cond:
            if target.parent == self.home.spool:
                self._spool_dirty = True
            elif target == self.home.repos_list:
                self._repos_dirty = True
            else:
                repo = self._repo_of(target)
                if repo is None:
                    return
                parts = target.relative_to(repo.root).parts
                if not parts:
                    if kind not in ("deleted", "moved"):
                        return  # the folder's own mtime: its files' events say more
                    key = FULL_SCAN  # the repo folder itself moved or deleted
                elif parts[0] == ".git":
                    if not (len(parts) == 2 and parts[1] in ("HEAD", "index")):
                        return
                    key = FULL_SCAN  # a checkout, commit or reset may have rewritten any file
                elif any(part in ALWAYS_PRUNED for part in parts):
                    return
                else:
                    key = "/".join(parts)
                    if is_dir and kind == "created":
                        self._repos_dirty = self._repos_dirty or self._needs_replan(repo, target)
                now = time.monotonic()
                first, _ = repo.pending.get(key, (now, now))
                repo.pending[key] = (first, now)
            self._cond.notify()

    def _repo_of(self, path: Path) -> _Repo | None:
        for root, repo in self.repos.items():
            if path == root or root in path.parents:
                return repo
        return None

    def _needs_replan(self, repo: _Repo, folder: Path) -> bool:
        """A new folder under a non-recursive watch is not watched yet; a generated one (a fresh
        node_modules) under a recursive watch must not stay watched."""
        covered = any(w.is_recursive and Path(w.path) in folder.parents for w in repo.watches)
        return not covered or folder.name in ALWAYS_PRUNED

    # the loop (main thread)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._due():
                    self._cond.wait(timeout=self._wait_s())
                if self._stop:
                    return
                spool, self._spool_dirty = self._spool_dirty, False
                if self._drain_retry_at is not None and time.monotonic() >= self._drain_retry_at:
                    spool, self._drain_retry_at = True, None
                repos_changed, self._repos_dirty = self._repos_dirty, False
                batches = self._take_due()
            if repos_changed:
                self._reload_repos()
                self._write_state()
            if spool:
                self._drain()
            for repo, paths in batches:
                try:
                    self._record(repo, paths)
                except Exception:  # a bug must not end capture for every repo; log it, go on
                    log.exception("could not record %s in %s", paths[:5], repo.root)

    def _due(self) -> bool:
        if self._spool_dirty or self._repos_dirty:
            return True
        if self._retry_at is not None and time.monotonic() >= self._retry_at:
            return True
        if self._drain_retry_at is not None and time.monotonic() >= self._drain_retry_at:
            return True
        now = time.monotonic()
        return any(self._ready(repo, now) for repo in self.repos.values())

    def _ready(self, repo: _Repo, now: float) -> list[str]:
        if self._retry_at is not None and now < self._retry_at:
            return []
        return [
            path for path, (first, last) in repo.pending.items()
            if now - last >= self.debounce_s or now - first >= MAX_DELAY_S
        ]

    def _wait_s(self) -> float | None:
        """Until the next path falls due; None (wait for an event) when nothing is pending."""
        deadlines = [
            min(last + self.debounce_s, first + MAX_DELAY_S)
            for repo in self.repos.values()
            for first, last in repo.pending.values()
        ]
        deadlines += [at for at in (self._retry_at, self._drain_retry_at) if at is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _take_due(self) -> list[tuple[_Repo, list[str]]]:
        now = time.monotonic()
        self._retry_at = None if self._retry_at is not None and now >= self._retry_at else self._retry_at
        batches = []
        for repo in self.repos.values():
            ready = self._ready(repo, now)
            for path in ready:
                del repo.pending[path]
            if ready:
                batches.append((repo, ready))
        return batches

    def _record(self, repo: _Repo, paths: list[str]) -> None:
        git = GitRepo(repo.root)
        try:
            if not (repo.root / ".git").exists():
                raise NotAGitRepo(f"{repo.root} is gone")
            # Past a few hundred paths one whole-tree pass (a stat per file) beats matching
            # each path: a branch-wide rewrite or a formatter run lands here.
            whole = FULL_SCAN in paths or len(paths) > TARGETED_MAX
            recorded = self.recorder.record(git, within=None if whole else paths)
            if recorded.held and recorded.held_until_ns is not None:
                self._look_again(repo, recorded.held, recorded.held_until_ns)
        except BufferUnavailable as exc:
            log.warning("%s; will retry in %.0f s", exc, RETRY_S)
            with self._cond:
                now = time.monotonic()
                for path in paths:
                    repo.pending.setdefault(path, (now, now))
                self._retry_at = now + RETRY_S
        except NotRegistered:
            with self._cond:
                self._repos_dirty = True
        except (NotAGitRepo, GitFailed, OSError) as exc:
            if (repo.root / ".git").exists():
                # The repo is still there: a passing failure (a git command that failed once).
                log.warning("could not record %s (will retry): %s", repo.root, exc)
                with self._cond:
                    now = time.monotonic()
                    for path in paths:
                        repo.pending.setdefault(path, (now, now))
                    self._retry_at = now + RETRY_S
                return
            # The repo was deleted or moved: stop watching it; it is picked up again if it
            # returns and `prtrace start` is run there.
            log.warning("not watching %s any more: %s", repo.root, exc)
            self._unwatch(repo)
            with self._cond:
                self.repos.pop(repo.root, None)
            self._write_state()

    def _look_again(self, repo: _Repo, paths: tuple[str, ...], at_ns: int) -> None:
        """Queue paths a scan left to an agent's open shell call for when that call expires (a
        second after, so it has): if no post hook claimed them by then, they are recorded as the
        developer's. Nothing else would look at them: the watcher saw their change already."""
        due = time.monotonic() + max(0.0, (at_ns - time.time_ns()) / 1e9) + 1.0
        with self._cond:
            for path in paths:
                if path not in repo.pending:
                    repo.pending[path] = (due - MAX_DELAY_S, due - self.debounce_s)
            self._cond.notify_all()

    def _drain(self) -> None:
        """Drain the spool. Whatever fails — the buffer, the file system, a bug — is logged and
        the drain tried again later: the lines wait in the spool, the daemon runs on."""
        try:
            self.recorder.drain()
        except (PrtraceError, OSError) as exc:
            self._drain_later(f"{exc}")
        except Exception:
            log.exception("the spool drain failed")
            self._drain_later("a bug")
        else:
            if spool_waiting(self.home.spool):  # a file it could not read or remove
                self._drain_later("a spool file is left")
            else:
                self._drain_failures = 0
            self._push_soon()

    def _push_soon(self) -> None:
        """Nudge the pusher when a commit or push it has not been told of waits to be pushed.
        Asked after every drain, not only one that recorded it (a `prtrace` command may have
        drained the line), but only a new one nudges: one that waits because the server is
        away or refused its trace leaves the pusher to its backoff."""
        try:
            if not self.pusher.active():
                return
            waiting = self.buffer.pending_of_types(PUSH_SOON_TYPES)
            if waiting - self._told_pusher:
                self.pusher.nudge()
            self._told_pusher = waiting
        except PrtraceError as exc:  # the buffer is busy or damaged: the periodic push comes later
            log.warning("could not look for commits to push: %s", exc)

    def _drain_later(self, why: str) -> None:
        delay = min(RETRY_S * 2 ** min(self._drain_failures, 10), MAX_RETRY_S)
        self._drain_failures += 1
        log.warning("could not drain the spool (%s); will retry in %.0f s", why, delay)
        with self._cond:
            self._drain_retry_at = time.monotonic() + delay

    # repos and watches

    def _reload_repos(self) -> None:
        """Watch every registered repo (catching up on edits made while the daemon was down)."""
        registered = {Path(row.path) for row in self.buffer.repos() if not row.paused}
        for root in list(self.repos):
            self._unwatch(self.repos.pop(root))
        for root in sorted(registered):
            repo = _Repo(root)
            try:
                git = GitRepo(root)
                ignored = git.ignored_dirs()
                for watch in plan_watches(root, ignored):
                    repo.watches.append(self.observer.schedule(self.handler, str(watch.path), recursive=watch.recursive))
                git_dir = root / ".git"
                if git_dir.is_dir():
                    repo.watches.append(self.observer.schedule(self.handler, str(git_dir), recursive=False))
            except (OSError, GitFailed) as exc:
                log.warning("cannot watch %s: %s", root, exc)
                self._unwatch(repo)
                continue
            with self._cond:
                self.repos[root] = repo
            self._record(repo, [FULL_SCAN])  # catch-up: whatever changed while nobody watched

    def _unwatch(self, repo: _Repo) -> None:
        for watch in repo.watches:
            with contextlib.suppress(KeyError, OSError):
                self.observer.unschedule(watch)
        repo.watches.clear()

    # state for `prtrace status`

    @property
    def _state_path(self) -> Path:
        return self.home.root / "daemon.json"

    def _write_state(self) -> None:
        state = {"pid": os.getpid(), "started_at": self.started_at, "repos": sorted(str(r) for r in self.repos)}
        tmp = self._state_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, self._state_path)
        except OSError as exc:  # a full disk: `prtrace status` shows older news, capture goes on
            log.warning("could not write %s: %s", self._state_path.name, exc)


class RedactingFilter(logging.Filter):
    """Masks secrets in each log record — message, arguments, traceback — before any handler
    writes it. A record that cannot be redacted is written as a placeholder, never as it is."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = self.redactor.text(record.getMessage())
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redactor.text(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redactor.text(record.stack_info)
        except Exception:
            message, record.exc_text, record.stack_info = "(a log line withheld: it could not be redacted)", None, None
        record.msg, record.args, record.exc_info = message, None, None
        return True


def redact_logs(redactor: Redactor) -> Callable[[], None]:
    """Redact everything the root logger's handlers write, and send uncaught exceptions of
    threads (watchdog's observer) through logging rather than raw to stderr. Returns the undo."""
    redacting = RedactingFilter(redactor)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redacting)
    previous = threading.excepthook

    def log_thread_crash(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit:
            name = args.thread.name if args.thread is not None else "?"
            log.error("thread %s stopped: %s", name, args.exc_type.__name__, exc_info=args.exc_value)

    threading.excepthook = log_thread_crash

    def restore() -> None:
        threading.excepthook = previous
        for handler in handlers:
            handler.removeFilter(redacting)

    return restore


def read_state(home: Home) -> dict[str, Any] | None:
    try:
        data = json.loads((home.root / "daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

