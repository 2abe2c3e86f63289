"""Every test runs with its own PRTRACE_HOME and git identity, and never touches a real home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private PRTRACE_HOME and git config; no server, token or hook setting leaks in."""
    home = tmp_path_factory.mktemp("prtrace-home")
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Dev\n\temail = dev@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("PRTRACE_HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    def refuse(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("a test reached for the real user data dir; set PRTRACE_HOME")

    monkeypatch.setattr("platformdirs.user_data_dir", refuse)
    for var in ("PRTRACE_SERVER", "PRTRACE_TOKEN", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def prtrace_home(isolated_env: Path) -> Path:
    return isolated_env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit, in its own temp folder."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / ".gitignore").write_text("__pycache__/\n*.log\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_prtrace(*args: str, cwd: Path, check: bool = False, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real `prtrace` process, as a user runs it."""
    proc = subprocess.run(
        [str(BIN / "prtrace"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"prtrace {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """A real `prtrace-server serve` on a free loopback port, embedded storage in tmp."""
    import httpx

    port = free_port()
    data = tmp_path / "server-data"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "prtrace-server"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "PRTRACE_AUTH": "off", "PRTRACE_DATA_DIR": str(data)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not start in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
