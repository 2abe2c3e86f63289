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

from prtrace_core.actors import actor_label
from prtrace_core.summaries import event_summary
from prtrace_core.text import printable
from prtrace_core.timestamps import parse_ts

__all__ = ["actor_style", "line", "plain", "render_pr", "render_trace", "summary"]

_TYPE_STYLE = {
    "start": "bold cyan",
    "edit": "blue",
    "command": "white",
    "test": "magenta",
    "commit": "bold yellow",
    "push": "yellow",
    "checkout": "cyan",
    "annotation": "green",
    "ci": "bold magenta",
}

# A colour per actor: the developer one, each agent its own (the known ones fixed, any other
# picked by its name, so an agent keeps its colour from one command to the next).
_HUMAN_STYLE = "cyan"
_AGENT_STYLES = {"claude-code": "dark_orange", "codex": "green", "gemini": "dodger_blue1", "cursor": "orchid"}
_OTHER_STYLES = ("gold3", "spring_green3", "medium_purple1", "light_coral", "steel_blue1", "khaki3")


def line(value: object) -> str:
    """Recorded text as one printable line (for `Text`, which takes no markup)."""
    return printable(str(value), one_line=True)


def plain(value: object) -> str:
    """Recorded text for a Rich markup string: one printable line, its `[…]` escaped so it
    prints as written rather than as markup."""
    return escape(line(value))


def actor_style(actor: object) -> str:
    """The Rich style of an actor's label: one colour for the developer, one per agent."""
    if not isinstance(actor, dict):
        return ""
    if actor.get("kind") == "human":
        return _HUMAN_STYLE
    name = str(actor.get("name") or actor.get("kind") or "")
    if name in _AGENT_STYLES:
        return _AGENT_STYLES[name]
    import zlib

    return _OTHER_STYLES[zlib.crc32(name.encode()) % len(_OTHER_STYLES)] if name else ""


_STYLE_OF_TONE = {"": "", "pass": "green", "fail": "red", "note": "italic", "muted": "dim"}


def summary(event: dict[str, Any]) -> tuple[str, str]:
    """(one-line summary, Rich style) for an event, printable as it stands."""
    text, tone = event_summary(event)
    return text, _STYLE_OF_TONE[tone]


def _relative(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}" if hours else f"+{minutes:02d}:{secs:02d}"


def render_pr(console: Console, pr: dict[str, Any], *, diffs: bool = False) -> None:
    """Print a pull request: its header, its traces (each with a short label), and the merged
    timeline with each event's trace label (CI runs have none)."""
    info = pr.get("pr") or {}
    header = Text.assemble(("pr ", "dim"), (line(pr.get("pr_id")), "bold"))
    if info.get("title"):
        header.append("  ").append(line(info["title"]))
    if info.get("status"):
        header.append(f"  {line(info['status'])}", "green" if info["status"] == "merged" else "yellow")
    labels: dict[str, str] = {}
    for number, trace in enumerate(pr.get("traces") or [], start=1):
        labels[str(trace.get("trace_id"))] = f"T{number}"
        who = trace.get("owner") or trace.get("developer_id")
        header.append(f"\n  T{number} ", "bold").append(line(trace.get("trace_id")), "dim")
        header.append(f"  {line(trace.get('repo'))} {line(trace.get('branch'))}")
        if who:
            header.append(f"  by {line(who)}", "dim")
    timeline = pr.get("timeline") or {}
    events = pr.get("events") or []
    ci_runs = pr.get("ci_runs") or 0
    header.append(
        f"\n{len(events)} events over {_relative(timeline.get('duration_seconds') or 0).lstrip('+')}"
        + (f", {ci_runs} CI run update(s)" if ci_runs else ""),
        "dim",
    )
    console.print(header)
    console.print(_timeline(events, diffs=diffs, labels=labels))


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
    console.print(_timeline(events, diffs=diffs, types=types))


def _timeline(
    events: list[dict[str, Any]],
    *,
    diffs: bool,
    types: set[str] | None = None,
    labels: dict[str, str] | None = None,
) -> Table:
    """The events as a table: seq (and, for a PR, the trace label), time since the first, type,
    actor (blank when none was recorded), summary."""
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    if labels is not None:
        table.add_column("trace", no_wrap=True)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("actor", no_wrap=True)
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
        cells: list[RenderableType] = []
        if labels is not None:
            trace_id = event.get("trace_id")
            cells.append(Text(labels.get(str(trace_id), "·") if trace_id else "CI", style="dim"))
        actor = event.get("actor")
        cells += [
            Text(line(seq) if seq is not None else "·"),
            when,
            Text(kind, style=_TYPE_STYLE.get(kind, "")),
            Text(line(actor_label(actor)), style=actor_style(actor)),  # blank: no actor recorded
            what,
        ]
        table.add_row(*cells)
    return table
