"""Running a command for `prtrace run`: output passed through live, a head+tail sample kept."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import time
from collections.abc import Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from prtrace_daemon.client_errors import CommandNotFound, CommandNotRunnable

__all__ = ["PARSE_TAIL", "SAMPLE_HEAD", "SAMPLE_TAIL", "Outcome", "outcome_of", "run_command"]

SAMPLE_HEAD = 4096
SAMPLE_TAIL = 4096
PARSE_TAIL = 64 * 1024  # a test runner's summary is at the end of its output


class Outcome:
    """How a command ended. A plain class: `prtrace run` starts without dataclasses."""

    __slots__ = ("duration_ms", "exit_code", "output_for_parsing", "sample")

    def __init__(self, exit_code: int, duration_ms: int, sample: str, output_for_parsing: str) -> None:
        self.exit_code = exit_code  # the shell's convention: 128+N for a command killed by signal N
        self.duration_ms = duration_ms
        self.sample = sample  # head and tail of the output; the middle is elided
        self.output_for_parsing = output_for_parsing  # head and a longer tail: enough for a runner's summary


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


def outcome_of(exit_code: int, duration_ms: int, output: bytes) -> Outcome:
    """The outcome of a command someone else ran and reported whole (a coding agent's shell
    call), sampled as `prtrace run` samples its own."""
    sample, parse = _Sampler(SAMPLE_HEAD, SAMPLE_TAIL), _Sampler(SAMPLE_HEAD, PARSE_TAIL)
    sample.feed(output)
    parse.feed(output)
    return Outcome(exit_code, duration_ms, sample.text(), parse.text())


def _not_found(message: str) -> CommandNotFound:
    # The error types are imported only when one is raised: their module loads subprocess,
    # which `prtrace run` avoids (see _spawn).
    from prtrace_daemon.client_errors import CommandNotFound

    return CommandNotFound(message)


def _not_runnable(message: str) -> CommandNotRunnable:
    from prtrace_daemon.client_errors import CommandNotRunnable

    return CommandNotRunnable(message)


def _copy_window_size(source: int, target: int) -> None:
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # not a terminal after all: the command gets the default size


def _spawn(argv: Sequence[str], output: int) -> int:
    """Start argv with stdout and stderr on `output`; its pid. posix_spawn, not subprocess:
    importing subprocess costs ~10 ms, a third of what `prtrace run` may add to a command."""
    actions = [(os.POSIX_SPAWN_DUP2, output, 1), (os.POSIX_SPAWN_DUP2, output, 2), (os.POSIX_SPAWN_CLOSE, output)]
    # Python ignores SIGPIPE and SIGXFSZ; the command gets the defaults, as from a shell.
    defaults = [signal.SIGPIPE, *([signal.SIGXFSZ] if hasattr(signal, "SIGXFSZ") else [])]
    try:
        return os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions, setsigdef=defaults)
    except FileNotFoundError as exc:
        raise _not_found(f"command not found: {argv[0]}") from exc
    except OSError as exc:
        if exc.errno == errno.ENOEXEC:  # a script with no #! line: a shell runs it with sh, so do we
            with contextlib.suppress(OSError):
                return os.posix_spawn("/bin/sh", ["sh", *argv], os.environ, file_actions=actions, setsigdef=defaults)
        raise _not_runnable(f"cannot run {argv[0]}: {exc.strerror}") from exc


def run_command(argv: Sequence[str], *, use_pty: bool | None = None) -> Outcome:
    """Run argv (no shell), mirror its output to ours, and return how it ended.

    When our stdout is a terminal the command writes to a pseudo-terminal, so colours and
    progress bars look as they do without prtrace (stderr joins stdout there, as on a terminal).
    Ctrl-C reaches the command through the terminal's process group; SIGTERM and SIGHUP sent to
    prtrace are passed on. We wait for the command to finish rather than die first, so its own
    exit is what gets recorded.
    """
    if not argv:
        raise _not_found("no command to run")
    if use_pty is None:
        use_pty = sys.stdout is not None and sys.stdout.isatty()
    sample = _Sampler(SAMPLE_HEAD, SAMPLE_TAIL)
    parse = _Sampler(SAMPLE_HEAD, PARSE_TAIL)
    out = sys.stdout.buffer if sys.stdout is not None else None  # None: started with stdout closed
    pid = 0
    done = False
    held: list[int] = []  # signals that came before the command existed, passed on once it does

    def forward(signum: int, _frame: object) -> None:
        if not pid:
            held.append(signum)
        elif not done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    # A Python-level handler (not SIG_IGN, which exec would pass on) keeps us alive through
    # Ctrl-C while the child, reset to the default on exec, gets it and ends its own way.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, lambda *_: None),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    started = time.monotonic()
    reader = writer = -1
    try:
        if use_pty:
            import pty

            reader, writer = pty.openpty()
            _copy_window_size(sys.stdout.fileno(), writer)
        else:
            reader, writer = os.pipe()
        pid = _spawn(argv, writer)
        for signum in held:
            forward(signum, None)
        os.close(writer)
        writer = -1
        while True:
            try:
                chunk = os.read(reader, 65536)
            except OSError:  # EIO: the pseudo-terminal closed with the command
                break
            if not chunk:
                break
            if out is not None:
                try:
                    out.write(chunk)
                    out.flush()
                except (BrokenPipeError, OSError):
                    pass  # our reader went away; keep the command's output for the sample
            sample.feed(chunk)
            parse.feed(chunk)
        _, status = os.waitpid(pid, 0)
        done = True
        code = os.waitstatus_to_exitcode(status)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for descriptor in (reader, writer):
            if descriptor >= 0:
                os.close(descriptor)
    duration_ms = int((time.monotonic() - started) * 1000)
    exit_code = 128 - code if code < 0 else code
    return Outcome(exit_code, duration_ms, sample.text(), parse.text())
