"""A real `prtrace-server` process on a loopback port, for the tests, `scripts/bench` and
`scripts/stack` alike: one copy of "start it, wait until it answers, stop it cleanly", so a fix
to how a server is started lands everywhere it is started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from tests.support.stack import free_port
from tests.support.waiting import TimedOut, wait_for

__all__ = ["SERVER", "ServerProcess", "ServerStartError", "serving", "start_worker"]

SERVER = Path(sys.executable).parent / "prtrace-server"

# Puts SIGINT back to its default, then becomes the command in argv[1:] (same pid): the state a
# shell leaves a foreground command in, even where this process ignores SIGINT (an ignored
# signal stays ignored across exec).
_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


class ServerStartError(RuntimeError):
    """The server exited before it answered, or did not answer in time; the message carries
    the end of its log, which says why."""


class ServerProcess:
    """`prtrace-server serve` on 127.0.0.1:`port` (a free one unless given), its output appended
    to `log` (None: this process's own stdout and stderr), `options` added to its command line.

    `env` is laid over this process's environment. The same object can be started again after
    `kill()` on the same port, as a restarted deployment would be. `stderr_log` keeps its
    stderr apart from `log`, for a test of what it prints there; `default_sigint` gives it
    SIGINT as a shell would, for a test of Ctrl-C."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path | None,
        port: int | None = None,
        *,
        options: Sequence[str] = (),
        ready_path: str = "/healthz",
        stderr_log: Path | None = None,
        default_sigint: bool = False,
    ) -> None:
        self.env = env
        self.log = log
        self.stderr_log = stderr_log
        self.default_sigint = default_sigint
        self.port = port or free_port()
        self.options = tuple(options)
        self.ready_path = ready_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> ServerProcess:
        """Start the process and wait until `ready_path` answers 200."""
        argv = [
            str(SERVER),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.options,
        ]
        if self.default_sigint:
            argv = [sys.executable, "-c", _DEFAULT_SIGINT, *argv]
        with ExitStack() as files:
            out = files.enter_context(_appending(self.log)) if self.log else None
            err: IO[bytes] | int | None = subprocess.STDOUT if out else None
            if self.stderr_log:
                err = files.enter_context(_appending(self.stderr_log))
            self.process = subprocess.Popen(
                argv, env={**os.environ, **self.env}, stdout=out, stderr=err
            )
        try:
            wait_for(self._answers, "the server to answer", timeout_s)
        except TimedOut:
            self.stop()
            raise ServerStartError(
                f"the server did not answer in {timeout_s:.0f} s:\n{self.log_tail()}"
            ) from None
        return self

    def _answers(self) -> bool:
        """Whether `ready_path` answers 200; a server that exited will never answer."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise ServerStartError(
                f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            return httpx.get(self.url + self.ready_path, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's log (and of its stderr, if kept apart), for an error message."""
        logs = [log for log in (self.log, self.stderr_log) if log is not None]
        if not logs:
            return "(its output went to the terminal)"
        return "\n".join(
            log.read_bytes()[-size:].decode(errors="replace") for log in logs if log.exists()
        )

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server was never started"
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: the crash no handler sees."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 10) -> int | None:
        """Ask it to stop (`sig`), wait up to `timeout_s`, then kill it; its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self if self.process is not None else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serving(
    env: dict[str, str], log: Path | None, *, options: Sequence[str] = (), timeout_s: float = 60
) -> Iterator[ServerProcess]:
    """A started `ServerProcess`, stopped when the block ends."""
    server = ServerProcess(env, log, options=options)
    server.start(timeout_s)
    try:
        yield server
    finally:
        server.stop()


def start_worker(
    env: dict[str, str], log: Path | None, *, options: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`prtrace-server worker` (compaction beside a `serve --no-worker`), its output appended to
    `log` (None: this process's own), `options` added to its command line."""
    argv = [str(SERVER), "worker", *options]
    if log is None:
        return subprocess.Popen(argv, env={**os.environ, **env})
    with _appending(log) as out:
        return subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def _appending(log: Path) -> IO[bytes]:
    """`log` opened for appending, its folder made first."""
    log.parent.mkdir(parents=True, exist_ok=True)
    return log.open("ab")
