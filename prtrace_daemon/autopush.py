"""The daemon's own pushes, in a thread of their own so capture never waits on the network.

When a server is set and auto-push is on (`auto_push` in config.toml, `PRTRACE_AUTO_PUSH`),
the daemon pushes soon after a commit or a push is recorded (`nudge`) and every
`interval_s` while events wait. While the server cannot be reached it backs off (doubling
from `backoff_s` to `backoff_max_s`, with jitter) and says so twice in daemon.log: once when
it goes offline, once when it is back; never once per try. A commit during the backoff may
try again early, but never sooner than `backoff_s` after the last try.

It takes the push lock without waiting, so it never races a `prtrace push`: when one runs,
the daemon lets it send. Settings are read again before each push, so `prtrace login` and
`auto_push = false` take effect without a restart. What it sees is kept under `auto_push`
in push.json for `prtrace status`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prtrace_core.errors import PrtraceError
from prtrace_core.timestamps import format_ts, now_ts
from prtrace_daemon.buffer import Buffer
from prtrace_daemon.client_errors import ServerUnreachable
from prtrace_daemon.config import PushTuning, Settings, load_settings, push_tuning
from prtrace_daemon.paths import Home
from prtrace_daemon.push import PushReport, ServerClient, public_url, push, update_push_state

__all__ = ["DAEMON_ATTEMPTS", "AutoPusher"]

log = logging.getLogger("prtrace.autopush")

DAEMON_ATTEMPTS = 3  # tries per request: the daemon's own backoff does the long waiting
BY = "the daemon"


class AutoPusher:
    """Pushes the buffer under `home` on its own thread until `stop()`."""

    def __init__(
        self, home: Home, *, redact: Callable[[str], str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.home = home
        self._redact = redact or (lambda text: text)  # push.json is read back by `status`: no secret in it
        self._clock = clock
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._nudged = False
        self._next_at = clock()  # the next periodic look: set on start
        self._retry_at: float | None = None  # set while backing off
        self._last_try = float("-inf")
        self._failures = 0  # in a row
        self._state = "ok"  # ok | offline | refused
        self._since: str | None = None  # when the current trouble began
        self._problem: str | None = None  # what was last logged about it
        self._next_try_at: str | None = None  # when it tries again, while backing off
        self._settings: Settings | None = None  # as last read
        self._buffer: Buffer | None = None
        try:
            self.tuning = push_tuning()
        except PrtraceError as exc:
            log.warning("auto-push uses its default pace: %s", exc)
            self.tuning = PushTuning()
        with contextlib.suppress(PrtraceError):  # an unreadable config.toml: the first look says so
            self._settings = load_settings(home.config, check=False)

    # life (the daemon's main thread)

    def start(self) -> None:
        """Run on a thread of its own; the first periodic look is one interval away (a commit
        or push recorded meanwhile is pushed sooner)."""
        # httpx logs every answer at INFO: a busy server would write a line per try
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._next_at = self._clock() + self.tuning.interval_s
        self._thread = threading.Thread(target=self._run, name="prtrace-autopush", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the push in progress, if any (waiting at most `timeout_s` for it: a push
        cut short is finished by the next one)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def active(self) -> bool:
        """Whether pushing is on, as the settings last read say (a server set, auto-push on):
        the daemon asks before it looks for commits to push."""
        settings = self._settings
        return settings is None or (bool(settings.server) and settings.auto_push)

    def nudge(self) -> None:
        """A commit or a push was recorded: push soon (after the backoff, while offline)."""
        with self._cond:
            self._nudged = True
            self._cond.notify()

    # the thread

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopping and not self._due():
                        self._cond.wait(timeout=self._wait_s())
                    if self._stopping:
                        return
                    self._nudged = False
                try:
                    self._cycle()
                except Exception:  # a bug must not end auto-push, nor flood the log
                    self._trouble("failed", "an unexpected error", exc_info=True)
                try:
                    self._publish()
                except Exception:  # only `prtrace status` reads it
                    log.debug("could not publish the auto-push state", exc_info=True)
        finally:
            if self._buffer is not None:
                self._buffer.close()

    def _due(self) -> bool:
        now = self._clock()
        if self._retry_at is not None:
            early = self._nudged and now >= self._last_try + self.tuning.backoff_s
            return now >= self._retry_at or early
        return self._nudged or now >= self._next_at

    def _wait_s(self) -> float:
        now = self._clock()
        if self._retry_at is not None:
            at = self._retry_at
            if self._nudged:
                at = min(at, self._last_try + self.tuning.backoff_s)
            return max(0.0, at - now)
        return 0.0 if self._nudged else max(0.0, self._next_at - now)

    def _cycle(self) -> None:
        """One look: push when a server is set, auto-push is on and something waits. A failure
        sets the next try (`_trouble`); any other way out leaves the next look to a nudge or
        the interval, keeping the failure count, so the backoff goes on growing if the
        server is still away."""
        self._next_at = self._clock() + self.tuning.interval_s
        self._retry_at = self._next_try_at = None
        try:
            settings = load_settings(self.home.config, check=False)
        except PrtraceError as exc:
            self._trouble("failed", f"config.toml cannot be read: {exc}")
            return
        self._settings = settings
        if not settings.server or not settings.auto_push:
            self._clear()
            return
        if self._buffer is None:
            self._buffer = Buffer(self.home.buffer)
        if not self._buffer.pending_traces():
            return
        self._last_try = self._clock()
        with ServerClient(
            settings.server, settings.token, attempts=min(self.tuning.attempts, DAEMON_ATTEMPTS),
            retry_s=self.tuning.retry_s,
        ) as client:
            try:
                report = push(
                    self.home, self._buffer, client, by=BY,
                    max_events=self.tuning.batch_events, max_bytes=self.tuning.batch_bytes,
                )
            except ServerUnreachable as exc:
                self._trouble("offline", str(exc), server=settings.server)
                return
            except PrtraceError as exc:  # the buffer cannot be read or written now
                self._trouble("failed", str(exc), server=settings.server)
                return
        if report.busy:
            return  # a `prtrace push` runs: it sends these
        if report.failed and not (report.accepted or report.duplicate):
            reasons = "; ".join(sorted({reason for _, reason in report.failed}))
            self._trouble("refused", reasons, server=settings.server)
            return
        self._pushed(settings.server, report)

    # outcomes

    def _pushed(self, server: str, report: PushReport) -> None:
        if self._state == "offline":
            log.info("server %s is reachable again; pushed %d new event(s)", public_url(server), report.accepted)
        elif self._state != "ok":
            log.info("pushing to %s works again; pushed %d new event(s)", public_url(server), report.accepted)
        elif report.accepted:
            log.info("pushed %d new event(s) to %s", report.accepted, public_url(server))
        for trace_id, reason in report.failed:  # some traces refused, others went
            log.warning("the server refused trace %s: %s", trace_id, reason)
        self._clear()

    def _clear(self) -> None:
        self._state, self._since, self._problem = "ok", None, None
        self._failures, self._retry_at, self._next_try_at = 0, None, None

    def _trouble(self, state: str, problem: str, *, server: str | None = None, exc_info: bool = False) -> None:
        """Back off; log only a change: going offline, or a new reason for failing."""
        if state != self._state or (state != "offline" and problem != self._problem):
            if state == "offline":
                log.warning(
                    "server %s is unreachable (%s); auto-push tries again with backoff and logs "
                    "once more when it is back; events stay buffered",
                    public_url(server or "?"), self._public(problem.removeprefix(f"cannot reach {server}: ")),
                )
            else:
                log.warning("auto-push %s: %s; it tries again with backoff", state, self._public(problem), exc_info=exc_info)
            self._since = now_ts()
        self._state, self._problem = state, problem
        self._failures += 1
        base = min(self.tuning.backoff_s * 2 ** min(self._failures - 1, 30), self.tuning.backoff_max_s)
        wait = base / 2 + random.random() * base / 2
        self._retry_at = self._clock() + wait
        self._next_try_at = format_ts(datetime.now(UTC) + timedelta(seconds=wait))

    # what `prtrace status` reads

    def _public(self, text: str) -> str:
        """Text fit for push.json and the log: the server's URL without its user:password@,
        and secrets redacted."""
        server = self._settings.server if self._settings is not None else None
        if server:
            text = text.replace(server, public_url(server))
        return self._redact(text)

    def _publish(self) -> None:
        settings = self._settings
        update_push_state(self.home, auto_push={
            "pid": os.getpid(),
            "on": bool(settings and settings.auto_push),
            "set_by": settings.auto_push_set_by if settings else "default",
            "server": public_url(settings.server) if settings and settings.server else None,
            "interval_s": self.tuning.interval_s,
            "state": self._state,
            "since": self._since,
            "error": self._public(self._problem) if self._problem else None,
            "next_try_at": self._next_try_at,
            "checked_at": now_ts(),
        })
