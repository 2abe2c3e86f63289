"""`scripts/bench agent`: what prtrace's hook adds to each coding-agent tool call.

An agent runs a command hook as `/bin/sh -c COMMAND` with the event's JSON on stdin and waits
for it. Here the same happens `--calls` times in a row with the command `prtrace agent install`
writes into Claude Code's settings (for PostToolUse, a real Edit payload), against the same loop
with no hook at all and, for scale, with a hook that is only `true`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_common import ROOT, bench_parser, command_line, machine, publish, today

SUMMARY = "cost of the coding agents' hook per tool call (prtrace agent install)"
ROUNDS = 20  # the loops take turns, this many times each
PAYLOAD = ROOT / "tests" / "fixtures" / "agents" / "claude-code" / "PostToolUse-Edit.json"


def _calls(argv: list[str] | None, payload: bytes, cwd: Path, calls: int) -> float:
    """Seconds for `calls` hook runs in a row, each waited for, as the agent does; argv None:
    the loop alone (the payload is still serialised per call, as the agent does with no hook)."""
    event = json.loads(payload)
    started = time.perf_counter()
    for _ in range(calls):
        data = json.dumps(event, indent=2).encode()
        if argv is not None:
            subprocess.run(argv, input=data, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _installed_command(repo: Path, home: Path) -> str:
    """The PostToolUse command, read back from the settings file install wrote."""
    from prtrace_daemon.agent_install import MARKER, config_path, install

    settings = config_path("claude-code", repo)
    install("claude-code", settings, home)
    groups = json.loads(settings.read_text())["hooks"]["PostToolUse"]
    return next(h["command"] for g in groups for h in g["hooks"] if MARKER in h.get("command", ""))


def bench_agent(calls: int) -> dict[str, Any]:
    """Seconds per call for each loop; and that the hooked loop spooled every call."""
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        home, repo, outside = work / "home", work / "repo", work / "elsewhere"
        for folder in (home / "spool", repo / "src", outside):
            folder.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        # As `prtrace start` leaves it: the repo listed, its spool ready (no daemon drains it).
        (home / "repos").write_text(f"{repo.resolve()}\n")
        command = _installed_command(repo, home)
        payload = PAYLOAD.read_bytes()
        cwd = repo / "src"
        results: dict[str, Any] = {
            "calls": calls,
            "payload_bytes": len(payload),
            "load": os.getloadavg()[0],  # other work on the machine inflates every figure
        }
        _calls(["/bin/sh", "-c", command], payload, cwd, min(calls, 50))  # warm the page cache
        for name in (home / "spool").iterdir():
            name.unlink()
        loops: dict[str, tuple[list[str] | None, Path]] = {
            "none": (None, cwd),
            "true": (["/bin/sh", "-c", "true"], cwd),
            "hook": (["/bin/sh", "-c", command], cwd),
            "outside": (["/bin/sh", "-c", command], outside),
        }
        # Interleaved in rounds, so a burst of load on a shared machine falls on every loop alike.
        spent = dict.fromkeys(loops, 0.0)
        rounds = max(1, min(ROUNDS, calls))
        for at in range(rounds):
            share = calls // rounds + (at < calls % rounds)
            for name, (argv, where) in loops.items():
                spent[name] += _calls(argv, payload, where, share)
        results.update({name: total / calls for name, total in spent.items()})
        results["spooled"] = sum(
            p.read_bytes().count(b"\n") for p in (home / "spool").glob("agent.*.spool")
        )
    return results


def agent_section(r: dict[str, Any], command: str) -> str:
    ms = 1000
    return "\n".join(
        [
            f"Command: `{command}`  ",
            f"Machine: {machine()}  ",
            f"Date: {today()} (load average {r['load']:.1f} at the start)",
            "",
            f"{r['calls']} agent tool calls in a row, each running its hook as the agent does",
            f"(`/bin/sh -c COMMAND`, a {r['payload_bytes']}-byte Claude Code PostToolUse Edit",
            "payload on stdin, waited for), against the same loop with no hook and with a hook",
            f"that is only `true`; the loops take turns, {ROUNDS} rounds each, so load on a shared",
            f"machine falls on all alike. The hooked loop spooled {r['spooled']} lines.",
            "",
            "| measure | per call | aim |",
            "|---|---:|---:|",
            f"| no hook | {r['none'] * ms:.2f} ms | |",
            f"| a `true` hook | {r['true'] * ms:.2f} ms | |",
            f"| prtrace's hook, in a recorded repo | {r['hook'] * ms:.2f} ms | |",
            f"| prtrace's hook, outside recorded repos | {r['outside'] * ms:.2f} ms | |",
            f"| **added by prtrace's hook** | {(r['hook'] - r['none']) * ms:.2f} ms | < 5 ms |",
            f"| added beyond any hook (`true`) | {(r['hook'] - r['true']) * ms:.2f} ms | |",
        ]
    )


def main(argv: list[str]) -> int:
    parser = bench_parser("agent", SUMMARY)
    parser.add_argument("--calls", type=int, default=1000, help="tool calls in each loop")
    options = parser.parse_args(argv)
    results = bench_agent(options.calls)
    if results["spooled"] != options.calls:
        print(f"the hook spooled {results['spooled']} of {options.calls} calls", file=sys.stderr)
        return 1
    publish(
        "Agent hooks",
        agent_section(results, command_line("agent", argv)),
        no_write=options.no_write,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
