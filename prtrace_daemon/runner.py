"""Running a command for `prtrace run`: output passed through live, a head+tail sample kept."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import shutil
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prtrace_daemon.errors import CommandNotFound

__all__ = ["SAMPLE_HEAD", "SAMPLE_TAIL", "Outcome", "run_command"]

SAMPLE_HEAD = 4096
SAMPLE_TAIL = 4096


@dataclass(frozen=True, slots=True)
class Outcome:
    exit_code: int  # the shell's convention: 128+N for a command killed by signal N
    duration_ms: int
    sample: str  # head and tail of the output; the middle is elided
    output_for_parsing: str  # head and a longer tail: enough for a runner's summary


class _Sampler:
    """Keeps the first and last bytes of a stream without holding all of it."""

    def __init__(self, head: int, tail: int) -> None:
        self.head_cap, self.tail_cap = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        omitted = self.total - len(self.head) - len(self.tail)
        if omitted > 0:
            return f"{head}\n… [{omitted} bytes omitted] …\n{tail}"
        return head + tail


def _copy_window_size(source: int, target: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)


def run_command(argv: Sequence[str], *, use_pty: bool | None = None) -> Outcome:
    """Run argv (no shell), mirror its output to ours, and return how it ended.

    When our stdout is a terminal the command writes to a pseudo-terminal, so colours and
    progress bars look as they do without prtrace (stderr joins stdout there, as on a terminal).
    Ctrl-C reaches the command through the terminal's process group; SIGTERM and SIGHUP sent to
    prtrace are passed on. We wait for the command to finish rather than die first, so its own
    exit is what gets recorded.
    """
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        raise CommandNotFound(f"command not found: {argv[0]}")
    if use_pty is None:
        use_pty = sys.stdout.isatty()
    sample = _Sampler(SAMPLE_HEAD, SAMPLE_TAIL)
    parse = _Sampler(SAMPLE_HEAD, 64 * 1024)
    out = sys.stdout.buffer
    proc: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    # A Python-level handler (not SIG_IGN, which exec would pass on) keeps us alive through
    # Ctrl-C while the child, reset to the default on exec, gets it and ends its own way.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: None),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    started = time.monotonic()
    master = slave = -1
    try:
        if use_pty:
            master, slave = pty.openpty()
            _copy_window_size(sys.stdout.fileno(), slave)
            target: int = slave
        else:
            target = subprocess.PIPE
        try:
            proc = subprocess.Popen(list(argv), stdout=target, stderr=subprocess.STDOUT, bufsize=0)
        except (FileNotFoundError, PermissionError) as exc:
            raise CommandNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc
        if use_pty:
            os.close(slave)
            slave = -1
            fd = master
        else:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the pseudo-terminal closed with the command
                break
            if not chunk:
                break
            try:
                out.write(chunk)
                out.flush()
            except (BrokenPipeError, OSError):
                pass  # our reader went away; keep the command's output for the sample
            sample.feed(chunk)
            parse.feed(chunk)
        code = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for descriptor in (master, slave):
            if descriptor >= 0:
                os.close(descriptor)
    duration_ms = int((time.monotonic() - started) * 1000)
    exit_code = 128 - code if code < 0 else code
    return Outcome(exit_code, duration_ms, sample.text(), parse.text())
