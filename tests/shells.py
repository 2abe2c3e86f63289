"""Real interactive shells driven through a pseudo-terminal, as a person at a keyboard drives them.

Each shell gets a prompt that ends in a marker and shows `$?`; `type()` sends one line and
waits for the next prompt, so a test reads what the command printed and what the prompt
then showed, with no sleeps.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import shutil
import signal
from pathlib import Path

from tests.support.waiting import TimedOut, wait_for

__all__ = ["MARK", "Shell", "available"]

MARK = "<<ready>>"
_PROMPT = re.compile(r"\[(-?\d+)(?::(\d+))?\]" + re.escape(MARK))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>()][0-9A-B]?|\r")


def available(shell: str) -> bool:
    return shutil.which(shell) is not None


class Shell:
    """One interactive bash, zsh or fish whose rc file is `rc` (in its own temp folder)."""

    def __init__(self, kind: str, rc: str, *, cwd: Path, env: dict[str, str], home: Path) -> None:
        self.kind = kind
        home.mkdir(parents=True, exist_ok=True)
        env = {**env, "HOME": str(home), "TERM": "dumb", "LC_ALL": "C.UTF-8"}
        if kind == "bash":
            (home / ".bashrc").write_text(rc + "\nPS1='[$?]" + MARK + " '\n")
            argv = ["bash", "--rcfile", str(home / ".bashrc"), "--noprofile", "-i"]
        elif kind == "zsh":
            (home / ".zshrc").write_text(rc + "\nPROMPT='[%?]" + MARK + " '\nunsetopt ZLE\n")
            env["ZDOTDIR"] = str(home)
            argv = ["zsh", "-i"]
        else:
            config = home / ".config" / "fish"
            config.mkdir(parents=True, exist_ok=True)
            # fish repaints its prompt while a line is typed: a count of the commands run
            # tells the prompt after a command from a repaint of the one before it.
            (config / "config.fish").write_text(
                rc + "\nset -g __count 0\nfunction __count --on-event fish_postexec\n    set -g __count (math $__count + 1)\nend\n"
                "function fish_prompt\n    printf '[%s:%s]" + MARK + " ' $status $__count\nend\n"
                "function fish_greeting\nend\nfunction fish_title\nend\n"
            )
            env["XDG_CONFIG_HOME"] = str(home / ".config")
            argv = ["fish", "-i"]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the shell
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.buffer = ""
        self.statuses: list[int] = []
        self.count = 0
        self._wait_prompt()

    def _read(self, timeout_s: float = 0.2) -> None:
        """Add what the shell wrote to the buffer, waiting up to `timeout_s` for it to write."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if ready:
            with contextlib.suppress(OSError):  # the shell has exited
                self.buffer += os.read(self.fd, 65536).decode("utf-8", "replace")

    def _wait_prompt(self, timeout: float = 20) -> str:
        def prompt() -> tuple[str, re.Match[str]] | None:  # select() is the wait: no sleep
            clean = _ANSI.sub("", self.buffer)
            match = next(
                (m for m in _PROMPT.finditer(clean) if m.group(2) is None or int(m.group(2)) == self.count), None
            )
            if match is None:
                self._read()
                return None
            return clean, match

        clean, match = wait_for(
            prompt, lambda: f"a {self.kind} prompt; the screen shows:\n{self.buffer[-2000:]}", timeout, 0
        )
        self.buffer = clean[match.end():]
        self.statuses.append(int(match.group(1)))
        return clean[: match.start()]

    def type(self, line: str, timeout: float = 20) -> str:
        """Type `line` and Enter; returns what appeared before the next prompt."""
        os.write(self.fd, line.encode() + b"\n")
        self.count += 1
        return self._wait_prompt(timeout)

    def lines(self, line: str) -> list[str]:
        """Type `line`; the lines it printed (the echo of what was typed is the first)."""
        lines = (text.strip() for text in self.type(line).splitlines())
        return [text for text in lines if text.strip("#%⏎ ")]  # not the shells' partial-line marks

    @property
    def last_status(self) -> int:
        """The `$?` the prompt showed after the last command."""
        return self.statuses[-1]

    def close(self) -> None:
        try:
            os.write(self.fd, b"exit\n")

            def exited() -> bool:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return True
                self._read()  # drained, so the shell never blocks on a full terminal
                return False

            try:
                wait_for(exited, f"{self.kind} to exit", 5, 0)
            except TimedOut:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        except (OSError, ChildProcessError):
            pass
        finally:
            os.close(self.fd)
