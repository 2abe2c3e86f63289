"""A trace as a Rich timeline: seq, time since the first event, type, a one-line summary.

Everything shown here was written by someone else — a repository's file names, a commit
message, a server's answer — so it goes through `printable` (no control characters: no
escape sequence reaches the terminal) and into Rich as `Text`, never as markup (a `[bold]`
in a commit message prints as written). `plain` does both for callers that print markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from prtrace_core.text import printable
from prtrace_core.timestamps import parse_ts

__all__ = ["line", "plain", "render_trace", "summary"]

_TYPE_STYLE = {
    "start": "bold cyan",
    "edit": "blue",
    "command": "white",
    "test": "magenta",
    "commit": "bold yellow",
    "push": "yellow",
    "checkout": "cyan",
    "annotation": "green",
}


def line(value: object) -> str:
    """Recorded text as one printable line (for `Text`, which takes no markup)."""
    return printable(str(value), one_line=True)


def plain(value: object) -> str:
    """Recorded text for a Rich markup string: one printable line, its `[…]` escaped so it
    prints as written rather than as markup."""
    return escape(line(value))


def _short(sha: Any) -> str:
    return str(sha)[:7] if sha else "none"


def summary(event: dict[str, Any]) -> tuple[str, str]:
    """(one-line summary, style) for an event, printable as it stands; pure so it is easy to test."""
    text, style = _summary(event)
    return line(text), style


def _summary(event: dict[str, Any]) -> tuple[str, str]:
    p = event.get("payload") or {}
    kind = event.get("type")
    if kind == "start":
        dirty = p.get("dirty") or []
        return f"capture began at {_short(p.get('head_sha'))} on {p.get('branch')}, {len(dirty)} file(s) already changed", ""
    if kind == "edit":
        name = f"{p.get('old_file')} → {p.get('file')}" if p.get("old_file") else str(p.get("file"))
        notes = " (diff truncated)" if p.get("diff_truncated") else " (no diff: file too large)" if p.get("diff_omitted") else ""
        return f"{p.get('op', 'modify')} {name} {p.get('change_summary', '')}{notes}", ""
    if kind == "test":
        failed, errors = p.get("failed") or 0, p.get("errors") or 0
        ok = p.get("exit_code") == 0 and not failed and not errors
        counts = ", ".join(
            f"{p[k]} {k}" for k in ("passed", "failed", "errors", "skipped") if p.get(k)
        ) or "no results read"
        names = p.get("failed_tests") or []
        tail = f" — {', '.join(names[:3])}{' …' if len(names) > 3 else ''}" if names else ""
        return f"{p.get('framework')}: {counts} (exit {p.get('exit_code')}){tail}  `{p.get('command')}`", "green" if ok else "red"
    if kind == "command":
        secs = (p.get("duration_ms") or 0) / 1000
        style = "" if p.get("exit_code") == 0 else "red"
        return f"`{p.get('command')}` → exit {p.get('exit_code')} ({secs:.1f}s)", style
    if kind == "commit":
        first = str(p.get("message", "")).splitlines()[0] if p.get("message") else ""
        stats = f"{p.get('files_changed')} file(s)"
        if p.get("insertions") is not None:
            stats += f", +{p.get('insertions')}/-{p.get('deletions')}"
        return f"{_short(p.get('sha'))} {first} ({stats})", ""
    if kind == "annotation":
        return f"“{p.get('text')}”", "italic"
    if kind == "checkout":
        return f"{p.get('from_branch')} → {p.get('to_branch')}", ""
    if kind == "push":
        return f"to {p.get('remote')}", ""
    import json

    return json.dumps(p, ensure_ascii=False, sort_keys=True)[:200], "dim"


def _relative(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}" if hours else f"+{minutes:02d}:{secs:02d}"


def render_trace(console: Console, trace: dict[str, Any], *, diffs: bool = False, types: set[str] | None = None) -> None:
    """Print the trace's header and timeline."""
    repo = trace.get("repo") or {}
    pr = trace.get("pr") or {}
    timeline = trace.get("timeline") or {}
    header = Text.assemble(
        ("trace ", "dim"), (line(trace.get("trace_id")), "bold"),
        ("  repo ", "dim"), (line(repo.get("name")), ""),
        ("  branch ", "dim"), (line(repo.get("branch")), "bold"),
    )
    if pr:
        header.append("  pr ", "dim").append(line(pr.get("pr_id")))
    events = trace.get("events") or []
    duration = timeline.get("duration_seconds") or 0
    header.append(f"\n{len(events)} events over {_relative(duration).lstrip('+')}", "dim")
    if timeline.get("start_time"):
        header.append(f" from {line(timeline['start_time'])}", "dim")
    waiting = sum(1 for e in events if e.get("state") == "pending")
    if waiting:
        header.append(f", {waiting} not pushed yet", "dim")
    console.print(header)
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("what", overflow="fold")
    first = None
    for event in events:
        if types and event.get("type") not in types:
            continue
        try:
            moment = parse_ts(event["ts"])
        except (KeyError, ValueError, TypeError):
            moment = None
        if first is None and moment is not None:
            first = moment
        when = _relative((moment - first).total_seconds()) if moment and first else "?"
        text, style = summary(event)
        if event.get("state") == "rejected":
            text += f"  (rejected: {line(event.get('reason'))})"
            style = "red"
        kind = line(event.get("type"))
        what: RenderableType = Text(text, style=style)
        diff = (event.get("payload") or {}).get("diff") if diffs and kind == "edit" else None
        if diff:
            from rich.syntax import Syntax  # pygments: loaded only when a diff is shown

            shown = printable(str(diff)).rstrip("\n")  # a diff is file content: anything at all
            what = Group(what, Syntax(shown, "diff", theme="ansi_dark", word_wrap=True))
        seq = event.get("seq")
        table.add_row(Text(line(seq) if seq is not None else "·"), when, Text(kind, style=_TYPE_STYLE.get(kind, "")), what)
    console.print(table)
