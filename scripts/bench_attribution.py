"""`scripts/bench attribution`: what line attribution costs on a 2,000-line change.

A real repository and recorder: an agent and the developer take turns writing a 2,000-line
file (edits of 100 lines, recorded through the recorder as each one's), then commit it. The
attribution work is timed where capture does it, against the recording it rides on:

- the line authors advanced through the edits (`advance_lines`, inside each edit's write);
- the commit's authorship (`CommitLines.prepare` + `apply`, inside the commit's drain);
- the same commit concluding a squash merge on main, where added lines are matched by content;
- `prtrace blame` of the file, against `git blame --porcelain` alone.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_common import WORDS, bench_parser, command_line, machine, publish, today

__all__ = ["attribution_section", "bench_attribution", "main"]

SUMMARY = "line attribution: cost per commit of a 2,000-line change, and of blame"

AGENT = {"kind": "agent", "name": "claude-code", "session": "bench", "model": "bench-model"}
HUMAN = {"kind": "human"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


class _Timer:
    """Time spent in wrapped functions, by name."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - start

        return timed


@contextmanager
def _timed(timer: _Timer) -> Iterator[None]:
    """The attribution steps timed where capture calls them."""
    import prtrace_daemon.recorder as recorder
    from prtrace_daemon.authorship_store import CommitLines

    saved = recorder.advance_lines, CommitLines.prepare, CommitLines.apply
    recorder.advance_lines = timer.wrap("advance", recorder.advance_lines)  # type: ignore[assignment]
    CommitLines.prepare = classmethod(timer.wrap("prepare", CommitLines.prepare.__func__))  # type: ignore[assignment,attr-defined]
    CommitLines.apply = timer.wrap("apply", CommitLines.apply)  # type: ignore[method-assign]
    try:
        yield
    finally:
        recorder.advance_lines = saved[0]  # type: ignore[assignment]
        CommitLines.prepare = saved[1]  # type: ignore[method-assign]
        CommitLines.apply = saved[2]  # type: ignore[method-assign]


def _line(n: int) -> str:
    return f"    value_{n} = {WORDS[n % len(WORDS)]}({n}, {WORDS[(n * 7) % len(WORDS)]})\n"


def _one_run(lines: int, step: int) -> dict[str, float]:
    from prtrace_daemon.authorship_store import blame
    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.gitrepo import GitRepo
    from prtrace_daemon.hooks import install_hooks
    from prtrace_daemon.paths import home
    from prtrace_daemon.recorder import Recorder

    with tempfile.TemporaryDirectory(prefix="prtrace-bench-attr-") as tmp:
        os.environ["PRTRACE_HOME"] = str(Path(tmp) / "home")
        root = Path(tmp) / "repo"
        root.mkdir()
        _git(root, "init", "-q", "-b", "main")
        _git(root, "config", "user.email", "bench@example.com")
        _git(root, "config", "user.name", "bench")
        (root / "big.py").write_text("# big\n")
        _git(root, "add", ".")
        _git(root, "commit", "-q", "-m", "initial")
        h = home().ensure()
        rec = Recorder(h, Buffer(h.buffer))
        repo = GitRepo(root)
        rec.register(repo)
        install_hooks(repo, h.root)
        rec.record(repo)
        _git(root, "checkout", "-q", "-b", "feature")
        rec.record(repo)
        timer = _Timer()
        figures: dict[str, float] = {}
        body: list[str] = ["# big\n"]
        edit_s = 0.0
        with _timed(timer):
            for at, start in enumerate(range(0, lines, step)):
                body[1:1] = [
                    _line(n) for n in range(start, start + step)
                ]  # each edit adds at the top
                (root / "big.py").write_text("".join(body))
                began = time.perf_counter()
                plan = rec.plan(repo, ["big.py"])
                with rec.buffer.write() as tx:
                    rec.apply(tx, repo, plan, actor=AGENT if at % 2 == 0 else HUMAN)
                edit_s += time.perf_counter() - began
            figures["edits_s"] = edit_s
            figures["advance_s"] = timer.spent.get("advance", 0.0)
            _git(root, "commit", "-q", "-am", "2,000 lines")
            began = time.perf_counter()
            rec.drain()
            figures["commit_drain_s"] = time.perf_counter() - began
            figures["commit_authorship_s"] = timer.spent.get("prepare", 0.0) + timer.spent.get(
                "apply", 0.0
            )
            began = time.perf_counter()
            _git(root, "blame", "--porcelain", "--", "big.py")
            figures["git_blame_s"] = time.perf_counter() - began
            cwd = Path.cwd()
            os.chdir(root)
            try:
                began = time.perf_counter()
                blamed = blame(rec.buffer, repo, "big.py")
                figures["blame_s"] = time.perf_counter() - began
            finally:
                os.chdir(cwd)
            agents = sum(1 for line in blamed if line.actor and line.actor.get("kind") == "agent")
            assert agents == lines // 2, agents  # every other edit was the agent's
            # a squash merge of the feature on main: the added lines are matched by content
            _git(root, "checkout", "-q", "main")
            rec.record(repo)
            _git(root, "merge", "-q", "--squash", "feature")
            rec.record(repo)
            _git(root, "commit", "-q", "-m", "squash")
            before = timer.spent.get("prepare", 0.0) + timer.spent.get("apply", 0.0)
            began = time.perf_counter()
            rec.drain()
            figures["squash_drain_s"] = time.perf_counter() - began
            figures["squash_authorship_s"] = timer.spent["prepare"] + timer.spent["apply"] - before
        rec.buffer.close()
        return figures


def bench_attribution(*, lines: int = 2000, step: int = 100, runs: int = 5) -> dict[str, Any]:
    """The median of each figure over `runs` fresh repositories."""
    samples = [_one_run(lines, step) for _ in range(runs)]
    medians = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    return {"lines": lines, "edits": lines // step, "runs": runs, **medians}


def attribution_section(r: dict[str, Any], command: str, machine: str, date: str) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    def share(part: float, whole: float) -> str:
        return f"{part / whole:.0%}" if whole else "–"

    per_edit = r["advance_s"] / r["edits"]
    return "\n".join(
        [
            f"Command: `{command}`  ",
            f"Machine: {machine}  ",
            f"Date: {date}",
            "",
            f"A {r['lines']:,}-line file written in {r['edits']} edits of {r['lines'] // r['edits']} lines, the agent's",
            "and the developer's in turn, each recorded through the recorder, then committed and drained;",
            f"the median of {r['runs']} fresh repositories. Attribution is timed where capture does it.",
            "",
            "| step | attribution | what it rides on | share |",
            "|---|---:|---:|---:|",
            f"| line authors through the {r['edits']} edits (all) | {ms(r['advance_s'])} | recording them: "
            f"{ms(r['edits_s'])} | {share(r['advance_s'], r['edits_s'])} |",
            f"| … per edit | {ms(per_edit)} | {ms(r['edits_s'] / r['edits'])} | |",
            f"| the commit's authorship | {ms(r['commit_authorship_s'])} | the commit's drain: "
            f"{ms(r['commit_drain_s'])} | {share(r['commit_authorship_s'], r['commit_drain_s'])} |",
            f"| **per commit** (edits + commit) | **{ms(r['advance_s'] + r['commit_authorship_s'])}** | "
            f"{ms(r['edits_s'] + r['commit_drain_s'])} | "
            f"{share(r['advance_s'] + r['commit_authorship_s'], r['edits_s'] + r['commit_drain_s'])} |",
            f"| squash merge's commit (matched by content) | {ms(r['squash_authorship_s'])} | its drain: "
            f"{ms(r['squash_drain_s'])} | {share(r['squash_authorship_s'], r['squash_drain_s'])} |",
            f"| `prtrace blame` of the file | {ms(r['blame_s'])} | `git blame --porcelain`: "
            f"{ms(r['git_blame_s'])} | {r['blame_s'] / r['git_blame_s']:.1f}× git |",
            "",
            "Each edit's own diff advances the line authors (no content is read); the commit diffs",
            "each committed file against its first parent once. Nothing is done for files a commit",
            "does not touch.",
        ]
    )


def main(argv: list[str]) -> int:
    parser = bench_parser("attribution", SUMMARY)
    parser.add_argument("--lines", type=int, default=2000, help="lines in the change")
    parser.add_argument("--step", type=int, default=100, help="lines per edit")
    parser.add_argument(
        "--runs", type=int, default=5, help="fresh repositories (the median is kept)"
    )
    options = parser.parse_args(argv)
    result = bench_attribution(lines=options.lines, step=options.step, runs=options.runs)
    section = attribution_section(result, command_line("attribution", argv), machine(), today())
    publish("Line attribution", section, no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
