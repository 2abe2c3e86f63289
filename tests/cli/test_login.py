"""`prtrace login` against a real server with token auth: the token comes from stdin or a
prompt that does not echo it, never has to be typed on the command line, and a plain-http
server on another machine is warned about before the token is sent."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import stat
import subprocess
import termios
import time
from pathlib import Path

import pytest

from prtrace_cli.sync import is_loopback
from tests.conftest import BIN, run_prtrace
from tests.support.waiting import blocked_reading, wait_for

pytestmark = pytest.mark.e2e


def _token(data_dir: Path, user: str, role: str = "writer") -> str:
    out = subprocess.run(
        [str(BIN / "prtrace-server"), "token", "create", "--user", user, "--role", role],
        env={**os.environ, "PRTRACE_DATA_DIR": str(data_dir)}, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _login(*args: str, cwd: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    """`prtrace login …` with `stdin` piped in, as `printf '%s\\n' "$TOKEN" | prtrace login …` does."""
    return subprocess.run(
        [str(BIN / "prtrace"), "login", *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
    )


def in_terminal(
    args: list[str], *, cwd: Path, answer: str, prompt: bytes, timeout: float = 60, enter: bool = True
) -> tuple[int, bytes]:
    """Run the real `prtrace` in a pseudo-terminal of its own (its controlling terminal, as a
    shell's would be), type `answer` once `prompt` shows, and return its exit code and all it
    wrote to the terminal (what a person would have seen, echo included). `enter=False` types
    the answer without pressing Enter (`"\x03"` is Ctrl-C: the terminal sends SIGINT)."""
    main, side = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a shell leaves it, even under a runner that ignores it

    proc = subprocess.Popen(
        [str(BIN / "prtrace"), *args], cwd=cwd, stdin=side, stdout=side, stderr=side,
        preexec_fn=own_terminal, env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"},
    )
    os.close(side)
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal: it has exited
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and prompt in seen:
                # the prompt is written before echo is turned off: answer once it reads
                wait_for(lambda: blocked_reading(proc.pid, None), "prtrace to read the answer")
                os.write(main, answer.encode() + (b"\n" if enter else b""))
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert answered, seen
    return code, seen


def test_login_reads_the_token_from_stdin_stores_it_privately_and_push_uses_it(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, data_dir = auth_server
    token = _token(data_dir, "alice")
    result = _login("--server", url, cwd=repo, stdin=f"{token}\n")
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    config = prtrace_home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert token in config.read_text()
    assert "warning" not in result.stderr  # loopback http: nothing crosses a network
    run_prtrace("start", cwd=repo, check=True)
    pushed = run_prtrace("push", cwd=repo, check=True)
    assert ": 1 new," in pushed.stdout
    assert "main" in run_prtrace("show", "main", cwd=repo, check=True).stdout


def test_login_in_a_terminal_asks_for_the_token_without_echoing_it(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, data_dir = auth_server
    token = _token(data_dir, "bob")
    code, seen = in_terminal(["login", "--server", url], cwd=repo, answer=token, prompt=b"token")
    assert code == 0, seen
    assert token.encode() not in seen, seen  # typed, never shown
    assert b"Warning" not in seen  # getpass could turn echo off (it warns when it cannot)
    assert b"logged in" in seen
    assert token in (prtrace_home / "config.toml").read_text()


def test_ctrl_c_at_the_token_prompt_exits_130_with_one_line(repo: Path, prtrace_home: Path) -> None:
    # Typer/Click would turn it into "Aborted!" and exit 1; every prtrace command exits 130.
    code, seen = in_terminal(
        ["login", "--server", "http://127.0.0.1:9"], cwd=repo, answer="\x03", prompt=b"token", enter=False
    )
    assert code == 130, seen
    after = re.sub(r"\x1b\[[0-9;]*m", "", seen.split(b"token", 1)[1].decode(errors="replace"))
    assert "Aborted" not in after and "Traceback" not in after
    assert [line.strip() for line in after.splitlines() if line.strip(" :")] == ["interrupted"], seen
    assert not (prtrace_home / "config.toml").exists()


def test_login_with_the_token_option_still_works(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, data_dir = auth_server
    token = _token(data_dir, "carol")
    run_prtrace("login", "--server", url, "--token", token, cwd=repo, check=True)
    assert token in (prtrace_home / "config.toml").read_text()
    helped = run_prtrace("login", "--help", cwd=repo, check=True, env={"COLUMNS": "200"}).stdout
    assert "shell history" in helped


def test_login_keeps_the_users_other_keys_comments_and_order(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, data_dir = auth_server
    token = _token(data_dir, "erin")
    prtrace_home.mkdir(parents=True, exist_ok=True)
    config = prtrace_home / "config.toml"
    config.write_text(
        "# prtrace, set up by hand\n"
        'server = "https://old.example.com"  # the old server\n'
        'redact_patterns = ["INTERNAL-[0-9]{6}"]  # ticket ids\n'
        "\n"
        "auto_push = false\n"
        "my_own_key = 42\n"
        "\n"
        "[later]\n"
        'note = "a table prtrace does not know"\n'
    )
    config.chmod(0o644)
    result = _login("--server", url, cwd=repo, stdin=f"{token}\n")
    assert result.returncode == 0, result.stderr
    text = config.read_text()
    assert text.startswith("# prtrace, set up by hand\n")
    assert f'server = "{url}"  # the old server\n' in text
    assert 'redact_patterns = ["INTERNAL-[0-9]{6}"]  # ticket ids\n' in text
    assert "auto_push = false\nmy_own_key = 42\n" in text
    assert text.index("my_own_key") < text.index(f'token = "{token}"') < text.index("[later]")
    assert text.endswith('[later]\nnote = "a table prtrace does not know"\n')
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_login_with_a_bad_token_is_refused_and_saves_nothing(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, _ = auth_server
    result = _login("--server", url, cwd=repo, stdin="prt_000000000000_nope\n")
    assert result.returncode == 1 and "401" in result.stderr and "Traceback" not in result.stderr
    assert "--token" not in result.stderr  # the hint does not send anyone to the command line
    assert not (prtrace_home / "config.toml").exists()


@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
def test_login_with_no_token_on_stdin_is_refused(repo: Path, prtrace_home: Path, stdin: str) -> None:
    result = _login("--server", "https://prtrace.example.com", "--no-check", cwd=repo, stdin=stdin)
    assert result.returncode == 1 and result.stderr.startswith("error: no token given")
    assert "printf" in result.stderr
    assert not (prtrace_home / "config.toml").exists()


@pytest.mark.parametrize("server", ["ftp://host", "http://", "https:///x", "prtrace.example.com", "http://127.0.0.1:abc",
                                    "https://host:99999"])
def test_login_refuses_what_is_not_an_http_url(repo: Path, server: str) -> None:
    result = _login("--server", server, "--no-check", cwd=repo, stdin="prt_x\n")
    assert result.returncode == 1 and result.stderr.startswith("error: not an http(s) URL")


def test_login_warns_about_plain_http_to_another_machine_and_goes_on(repo: Path, prtrace_home: Path) -> None:
    result = _login("--server", "http://prtrace.example.com:8000", "--no-check", cwd=repo, stdin="prt_x\n")
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("warning:") and "unencrypted" in first and "prtrace.example.com" in first
    assert 'server = "http://prtrace.example.com:8000"' in (prtrace_home / "config.toml").read_text()
    coloured = subprocess.run(
        [str(BIN / "prtrace"), "login", "--server", "http://10.1.2.3", "--no-check"], cwd=repo, input="prt_x\n",
        capture_output=True, text=True, timeout=60, env={**os.environ, "FORCE_COLOR": "1"},
    )
    assert "\x1b[33m" in coloured.stderr  # yellow


@pytest.mark.parametrize(
    "server",
    ["http://127.0.0.1:8000", "http://127.9.9.9", "http://localhost:8000", "http://LOCALHOST.", "http://[::1]:8000",
     "https://prtrace.example.com"],
)
def test_login_does_not_warn_about_loopback_or_https(repo: Path, server: str) -> None:
    result = _login("--server", server, "--no-check", cwd=repo, stdin="prt_x\n")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.255.0.7", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("localhost.", True), ("128.0.0.1", False), ("10.0.0.1", False), ("::2", False), ("localhost.example.com", False),
     ("example.com", False), ("", False), (None, False)],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
