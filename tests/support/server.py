"""A real `prtrace-server` process on a loopback port, for the tests, `scripts/bench` and
`scripts/stack` alike: one copy of "start it, wait until it answers, stop it cleanly", so a fix
to how a server is started lands everywhere it is started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.stack import free_port

__all__ = ["SERVER", "ServerProcess", "ServerStartError", "serving", "start_worker"]

SERVER = Path(sys.executable).parent / "prtrace-server"


class ServerStartError(RuntimeError):
    """The server exited before it answered, or did not answer in time; the message carries
    the end of its log, which says why."""


class ServerProcess:
    """`prtrace-server serve` on 127.0.0.1:`port` (a free one unless given), its output appended
    to `log` (None: this process's own stdout and stderr), `options` added to its command line.

    `env` is laid over this process's environment. The same object can be started again after
    `kill()` on the same port, as a restarted deployment would be."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path | None,
        port: int | None = None,
        *,
        options: Sequence[str] = (),
        ready_path: str = "/healthz",
    ) -> None:
        self.env = env
        self.log = log
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
        if self.log is None:
            self.process = subprocess.Popen(argv, env={**os.environ, **self.env})
        else:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("ab") as out:
                self.process = subprocess.Popen(
                    argv, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT
                )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"the server did not answer in {timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's log, for an error message."""
        if self.log is None or not self.log.exists():
            return "(its output went to the terminal)"
        return self.log.read_bytes()[-size:].decode(errors="replace")

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


def start_worker(env: dict[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    """`prtrace-server worker` (compaction beside a `serve --no-worker`), its output to `log`."""
    if log is None:
        return subprocess.Popen([str(SERVER), "worker"], env={**os.environ, **env})
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(SERVER), "worker"], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
