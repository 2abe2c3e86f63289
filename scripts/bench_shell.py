"""`scripts/bench shell`: the per-command cost of the bash and zsh hooks, typed commands through
a pseudo-terminal, without the hook, outside a registered repo and inside one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_common import BIN, bench_parser, command_line, machine, publish

SUMMARY = "per-command cost of the bash and zsh hooks"


def _typed_session(argv: list[str], *, cwd: Path, env: dict[str, str], commands: int) -> float:
    """Seconds an interactive shell takes to run `commands` typed `:` lines, prompt to prompt."""
    import pty
    import select

    marker = b"<<p>>"
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    seen = b""

    def until(count: int, timeout: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while seen.count(marker) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]}: {seen.count(marker)} prompts of {count}")
            if select.select([fd], [], [], 0.5)[0]:
                seen += os.read(fd, 1 << 16)
                seen = seen[-(1 << 20):] if len(seen) > (1 << 22) else seen

    try:
        until(1, 20)
        seen = b""
        started = time.perf_counter()
        for _ in range(commands):
            os.write(fd, b":\n")
        until(commands, 300)
        elapsed = time.perf_counter() - started
        os.write(fd, b"exit\n")
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def bench_shell(commands: int, rounds: int) -> dict[str, Any]:
    """Per-command cost of the shell hooks: the same typed commands in bash (and zsh when it is
    installed) without the hook, with it outside any registered repo, and inside one."""
    results: dict[str, Any] = {"commands": commands, "rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PRTRACE_HOME": str(work / "home"), "TERM": "dumb", "HOME": str(work), "HISTFILE": "/dev/null"}
        repo, elsewhere = work / "repo", work / "elsewhere"
        repo.mkdir()
        elsewhere.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
        subprocess.run([str(BIN / "prtrace"), "start", "--no-daemon"], cwd=repo, env=env, check=True, capture_output=True)
        for shell in ("bash", "zsh"):
            if shutil.which(shell) is None:
                continue
            hook = subprocess.run([str(BIN / "prtrace"), "shell-init", shell], env=env, check=True,
                                  capture_output=True, text=True).stdout
            rcs = {}
            for label, text in (("bare", ""), ("hooked", hook)):
                rc = work / f"{shell}-{label}.rc"
                prompt = "PS1='<<p>>'" if shell == "bash" else "PROMPT='<<p>>'; unsetopt ZLE PROMPT_SP"
                rc.write_text(f"{text}\n{prompt}\n")
                rcs[label] = rc
            cases = {"bare": (rcs["bare"], repo), "outside": (rcs["hooked"], elsewhere), "inside": (rcs["hooked"], repo)}
            timings: dict[str, list[float]] = {label: [] for label in cases}
            for _ in range(rounds):  # interleaved, so drift in the machine's load hits every case alike
                for label, (rc, cwd) in cases.items():
                    if shell == "bash":
                        argv = ["bash", "--rcfile", str(rc), "--noprofile", "-i"]
                        run_env = env
                    else:
                        zdot = work / f"zdot-{rc.stem}"
                        zdot.mkdir(exist_ok=True)
                        shutil.copy(rc, zdot / ".zshrc")
                        argv, run_env = ["zsh", "-i"], {**env, "ZDOTDIR": str(zdot)}
                    timings[label].append(_typed_session(argv, cwd=cwd, env=run_env, commands=commands))
            for label, values in timings.items():
                values.sort()
                results[f"{shell}_{label}"] = values[len(values) // 2] / commands
        spooled = sum(len(p.read_bytes().splitlines()) for p in (work / "home" / "spool").glob("shell.*"))
        results["spooled"] = spooled
    return results


def shell_section(r: dict[str, Any], command: str) -> str:
    us = 1_000_000
    rows = []
    for shell in ("bash", "zsh"):
        if f"{shell}_bare" not in r:
            continue
        bare = r[f"{shell}_bare"]
        rows += [
            f"| {shell}, no hook | {bare * us:.0f} µs | |",
            f"| {shell}, hook, outside registered repos | {r[f'{shell}_outside'] * us:.0f} µs "
            f"| +{(r[f'{shell}_outside'] - bare) * us:.0f} µs |",
            f"| {shell}, hook, inside a registered repo (one spool line each) | {r[f'{shell}_inside'] * us:.0f} µs "
            f"| +{(r[f'{shell}_inside'] - bare) * us:.0f} µs |",
        ]
    return "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"{r['commands']} `:` commands typed into an interactive shell through a pseudo-terminal, prompt to",
        f"prompt; median of {r['rounds']} interleaved rounds per case, all in one run. Aim: under 1 ms",
        "(1,000 µs) added per command.",
        "",
        "| case | per command | added by the hook |",
        "|---|---:|---:|",
        *rows,
    ])

def main(argv: list[str]) -> int:
    parser = bench_parser("shell", SUMMARY)
    parser.add_argument("--commands", type=int, default=1000, help="commands typed per session")
    parser.add_argument("--rounds", type=int, default=5, help="sessions per case (the median is kept)")
    options = parser.parse_args(argv)
    command = command_line("shell", argv)
    section = shell_section(bench_shell(options.commands, options.rounds), command)
    publish("Shell hooks", section, no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
