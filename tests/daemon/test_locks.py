"""The one file-lock helper: exclusive between processes, a shared probe that sees a holder,
released when its holder dies, and the lock file's content left as its holder wrote it."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from prtrace_daemon.locks import LockFile, file_lock

HOLD = (
    "import sys, os\n"
    "from prtrace_daemon.locks import LockFile\n"
    "lock = LockFile(sys.argv[1])\n"
    "assert lock.acquire()\n"
    "os.pwrite(lock.fd, b'123 the holder\\n', 0)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def _holder(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_lock_another_process_holds_is_not_taken_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "push.lock"
    holder = _holder(path)
    try:
        with file_lock(path, blocking=False) as held:
            assert held is False
        with LockFile(path, create=False) as probe:
            assert probe.acquire(blocking=False, shared=True) is False  # how `daemon_alive` asks
        # asking for it, a second process leaves the holder's note alone
        assert path.read_bytes() == b"123 the holder\n"
    finally:
        holder.kill()  # no clean release: the kernel drops the lock with the process
        holder.communicate()
    with file_lock(path, blocking=False) as held:
        assert held is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_probe_does_not_create_the_lock_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LockFile(tmp_path / "daemon.lock", create=False)
    assert not (tmp_path / "daemon.lock").exists()


def test_shared_locks_do_not_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with LockFile(path) as first, LockFile(path) as second:
        assert first.acquire(blocking=False, shared=True)
        assert second.acquire(blocking=False, shared=True)
