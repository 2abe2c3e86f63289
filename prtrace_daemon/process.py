"""The daemon as a background process: one per user, found by its lock and pid file.

The lock (`daemon.lock`, a flock taken through `prtrace_daemon.locks`) is the truth: the kernel
drops it when the daemon dies, so a stale `daemon.pid` after a crash or kill -9 never blocks a
new daemon.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prtrace_core.errors import PrtraceError
from prtrace_daemon.locks import LockFile
from prtrace_daemon.paths import DAEMON_LOCK, DAEMON_PID, Home

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DaemonError", "DaemonInfo", "daemon_alive", "daemon_lock", "running", "start_background", "stop"]


class DaemonError(PrtraceError):
    """The daemon could not be started or stopped."""


class DaemonInfo:
    """The running daemon (a plain class: `running()` is on the path of every `note` and `run`)."""

    __slots__ = ("pid",)

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DaemonInfo) and other.pid == self.pid

    def __hash__(self) -> int:
        return hash(self.pid)

    def __repr__(self) -> str:
        return f"DaemonInfo(pid={self.pid})"


def _lock_path(home: Home) -> Path:
    return home.root / DAEMON_LOCK


def _pid_path(home: Home) -> Path:
    return home.root / DAEMON_PID


@contextmanager
def daemon_lock(home: Home) -> Iterator[bool]:
    """Held for the daemon's whole life; yields False when another daemon holds it."""
    with LockFile(_lock_path(home)) as lock:
        for attempt in range(20):  # `running()` may hold it shared for an instant
            if lock.acquire(blocking=False):
                break
            if attempt == 19:
                yield False
                return
            time.sleep(0.05)
        pid_file = _pid_path(home)
        tmp = pid_file.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n", encoding="ascii")
        os.replace(tmp, pid_file)
        try:
            yield True
        finally:
            pid_file.unlink(missing_ok=True)


def daemon_alive(root: str) -> bool:
    """Whether a daemon holds the lock in the state folder `root` (a path string: `note` and
    `run` ask this before anything else is loaded)."""
    try:
        lock = LockFile(os.path.join(root, DAEMON_LOCK), create=False)
    except OSError:
        return False
    with lock:
        return not lock.acquire(blocking=False, shared=True)  # held: a daemon lives


def running(home: Home) -> DaemonInfo | None:
    """The live daemon, or None (a pid file left by a dead one does not count)."""
    if not daemon_alive(str(home.root)):
        return None
    try:
        return DaemonInfo(int(_pid_path(home).read_text(encoding="ascii").split()[0]))
    except (OSError, ValueError, IndexError):
        return None  # starting up: lock taken, pid not written yet


def start_background(home: Home, *, timeout_s: float = 30.0) -> DaemonInfo:
    """Start `prtrace daemon` detached from this terminal; return once it watches."""
    import subprocess

    from prtrace_daemon.daemon import read_state

    fd = os.open(home.root / "daemon.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)  # one made before with looser rights
    # The daemon writes its log through a redacting filter (daemon.py); nothing is written
    # here, so no argument of the command that started it reaches the file.
    log = os.fdopen(fd, "ab")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "prtrace_cli.main", "daemon"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in this terminal must not reach it
            close_fds=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = read_state(home)
        if state is not None and state.get("pid") == process.pid:
            return DaemonInfo(process.pid)
        code = process.poll()
        if code is not None:
            info = running(home)
            if info is not None:
                return info  # another start won the race; that daemon serves
            raise DaemonError(f"the daemon exited at start (code {code})", hint=f"see {home.root / 'daemon.log'}")
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not start within {timeout_s:.0f} s", hint=f"see {home.root / 'daemon.log'}")


def stop(home: Home, *, timeout_s: float = 10.0) -> DaemonInfo | None:
    """Stop the daemon cleanly (SIGTERM, then SIGKILL after `timeout_s`); None if none ran."""
    info = running(home)
    if info is None:
        return None
    try:
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while running(home) is not None:
            if time.monotonic() > deadline:
                os.kill(info.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    except ProcessLookupError:
        pass
    return info
