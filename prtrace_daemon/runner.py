"""Running a command for `prtrace run`: output passed through live, a head+tail sample kept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
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


def run_command(argv: Sequence[str]) -> Outcome:
    """Run argv (no shell), mirror its output to ours, and return how it ended.

    Ctrl-C reaches the command through the terminal's process group; we wait for it to finish
    rather than die first, so the command's own exit is what gets recorded.
    """
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        raise CommandNotFound(f"command not found: {argv[0]}")
    sample = _Sampler(SAMPLE_HEAD, SAMPLE_TAIL)
    parse = _Sampler(SAMPLE_HEAD, 64 * 1024)
    out = sys.stdout.buffer
    # A Python-level handler (not SIG_IGN, which exec would pass on) keeps us alive through
    # Ctrl-C while the child, reset to the default on exec, gets it and ends its own way.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    started = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                bufsize=0,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise CommandNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            try:
                out.write(chunk)
                out.flush()
            except (BrokenPipeError, OSError):
                pass  # our reader went away; keep the command's output for the sample
            sample.feed(chunk)
            parse.feed(chunk)
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    duration_ms = int((time.monotonic() - started) * 1000)
    exit_code = 128 - code if code < 0 else code
    return Outcome(exit_code, duration_ms, sample.text(), parse.text())
