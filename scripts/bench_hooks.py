"""`scripts/bench hooks`: the per-commit cost of prtrace's git hooks, and the start-up cost of
`prtrace note` and `prtrace run`, for prtrace installed from a wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_common import ROOT, bench_parser, command_line, machine, publish

SUMMARY = "per-commit cost of the git hooks; start-up cost of note and run"


def _timed(argv: list[str], *, cwd: Path, env: dict[str, str], runs: int, settle: float = 0.0) -> float:
    """Median seconds of `runs` runs of a command (`settle` s apart: time for the daemon to
    take the previous one, as between two commands a person types)."""
    times = []
    for _ in range(runs):
        time.sleep(settle)
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2]


def _installed(work: Path) -> Path:
    """prtrace installed as users get it (a wheel, not this checkout's editable install, whose
    import hook alone costs ~15 ms at every Python start); returns its bin folder."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return venv / "bin"


def bench_hooks(commits: int, runs: int) -> dict[str, Any]:
    """Per-commit cost of prtrace's git hooks, and the start-up cost of `note` and `run`."""
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        bin_dir = _installed(work)
        # No PRTRACE_HOME: the state folder is found as a user's is, under this HOME.
        env = {k: v for k, v in os.environ.items() if k not in ("PRTRACE_HOME", "XDG_DATA_HOME")}
        env.update({"HOME": str(work), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                    "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})
        prtrace = str(bin_dir / "prtrace")
        results: dict[str, Any] = {"commits": commits, "runs": runs}
        for label, hooked in (("bare", False), ("hooked", True)):
            repo = work / label
            repo.mkdir()
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
            (repo / "f.txt").write_text("0\n")
            subprocess.run(["git", "add", "."], cwd=repo, env=env, check=True)
            subprocess.run(["git", "commit", "-qm", "0"], cwd=repo, env=env, check=True)
            if hooked:
                subprocess.run([prtrace, "start", "--no-daemon"], cwd=repo, env=env, check=True, capture_output=True)
            started = time.perf_counter()
            for n in range(commits):
                subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", str(n)], cwd=repo, env=env, check=True)
            results[f"commit_{label}"] = (time.perf_counter() - started) / commits
        repo = work / "hooked"
        python = str(bin_dir / "python")
        results["floor"] = _timed([python, "-c", "import typer, rich"], cwd=repo, env=env, runs=runs)
        results["python"] = _timed([python, "-c", "pass"], cwd=repo, env=env, runs=runs)
        results["true"] = _timed(["true"], cwd=repo, env=env, runs=runs)
        results["note_here"] = _timed([prtrace, "note", "a note"], cwd=repo, env=env, runs=runs)
        results["run_here"] = _timed([prtrace, "run", "--", "true"], cwd=repo, env=env, runs=runs)
        subprocess.run([prtrace, "start"], cwd=repo, env=env, check=True, capture_output=True)  # now with the daemon
        try:
            results["note"] = _timed([prtrace, "note", "a note"], cwd=repo, env=env, runs=runs, settle=0.3)
            results["run_true"] = _timed([prtrace, "run", "--", "true"], cwd=repo, env=env, runs=runs, settle=0.3)
        finally:
            subprocess.run([prtrace, "stop"], cwd=repo, env=env, check=True, capture_output=True)
    return results



def hooks_section(r: dict[str, Any], command: str) -> str:
    ms = 1000
    return "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"{r['commits']} `git commit --allow-empty` in a repo without and with prtrace's hooks (one run);",
        f"the CLI figures are medians of {r['runs']} runs of prtrace installed from a wheel in a fresh",
        "virtualenv, beside what any Python or Typer program pays there.",
        "",
        "| measure | figure | aim |",
        "|---|---:|---:|",
        f"| `git commit`, no hooks | {r['commit_bare'] * ms:.1f} ms | |",
        f"| `git commit`, prtrace's post-commit hook | {r['commit_hooked'] * ms:.1f} ms | |",
        f"| overhead per commit | {(r['commit_hooked'] - r['commit_bare']) * ms:.1f} ms | < 5 ms |",
        f"| `python -c pass` | {r['python'] * ms:.0f} ms | |",
        f"| `python -c \"import typer, rich\"` (the floor of a Typer CLI) | {r['floor'] * ms:.0f} ms | |",
        f"| `prtrace note`, daemon running | {r['note'] * ms:.0f} ms | < 80 ms |",
        f"| `prtrace note`, no daemon (the scan runs in the command) | {r['note_here'] * ms:.0f} ms | |",
        f"| `true` | {r['true'] * ms:.1f} ms | |",
        f"| `prtrace run -- true`, daemon running | {r['run_true'] * ms:.0f} ms | |",
        f"| overhead of `prtrace run`, daemon running | {(r['run_true'] - r['true']) * ms:.0f} ms | < 35 ms |",
        f"| overhead of `prtrace run`, no daemon | {(r['run_here'] - r['true']) * ms:.0f} ms | |",
    ])

def main(argv: list[str]) -> int:
    parser = bench_parser("hooks", SUMMARY)
    parser.add_argument("--commits", type=int, default=500, help="commits with and without the hooks")
    parser.add_argument("--runs", type=int, default=20, help="runs per CLI figure (the median is kept)")
    options = parser.parse_args(argv)
    command = command_line("hooks", argv)
    section = hooks_section(bench_hooks(options.commits, options.runs), command)
    publish("Git hooks and the CLI", section, no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
