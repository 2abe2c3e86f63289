"""`prtrace show REF`: a trace as a timeline, or as JSON."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prtrace_cli.traces import load_pr, load_traces, source_for
from prtrace_core.actors import ActorKind

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["show"]


def show(
    ref: Annotated[str, typer.Argument(help="PR-123, 123, owner/repo#123, a trace id, a branch, or a trace .json/.jsonl file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace JSON (a PR's: its merged timeline) and nothing else on stdout.")] = False,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
    types: Annotated[list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")] = None,
    diffs: Annotated[bool, typer.Option("--diffs", help="Show each edit's diff.")] = False,
    actor: Annotated[ActorKind | None, typer.Option("--actor", help="Only the events of the coding agents, or only the developer's (events with no recorded actor are neither).")] = None,
) -> None:
    """Show a trace as a timeline (seq, time, type, actor, summary), from the server when one is set.

    The actor column names who did each event: `human`, or the agent (claude-code, codex, …),
    each in its own colour; it is blank for an event recorded with no actor. A pull request
    (PR-123, owner/repo#123) shows all its traces and its CI runs in one timeline.
    """
    source = source_for(local=local, server=server)
    pr = load_pr(ref, source)
    if pr is not None:
        _show_pr(pr, as_json=as_json, types=set(types) if types else None, diffs=diffs, actor=actor)
        return
    traces = load_traces(ref, source)
    for trace in traces:
        trace["events"] = _kept(trace.get("events") or [], set(types) if types else None, actor)
    if as_json:
        _print_json(traces[0] if len(traces) == 1 else traces)
        return
    from prtrace_cli.render import render_trace

    for trace in traces:
        render_trace(_console(), trace, diffs=diffs)


def _kept(events: list[dict[str, Any]], types: set[str] | None, actor: str | None) -> list[dict[str, Any]]:
    """The events `--type` and `--actor` leave (the JSON keeps each event's actor as stored)."""
    from prtrace_core.actors import filter_events

    return filter_events((e for e in events if not types or e.get("type") in types), actor)


def _show_pr(pr: dict[str, Any], *, as_json: bool, types: set[str] | None, diffs: bool, actor: str | None) -> None:
    pr["events"] = _kept(pr.get("events") or [], types, actor)
    if as_json:
        _print_json(pr)
        return
    from prtrace_cli.render import render_pr

    render_pr(_console(), pr, diffs=diffs)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _print_json(doc: Any) -> None:
    import json

    from prtrace_core.text import json_printable

    # Control characters leave as \u escapes (the C1 ones too, which encoders keep raw):
    # the same JSON, and nothing a terminal would act on when stdout is one.
    try:
        import orjson

        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8")
        sys.stdout.buffer.write(json_printable(data).encode("utf-8") + b"\n")
    except (TypeError, orjson.JSONEncodeError):  # a lone surrogate, an integer past 64 bits
        sys.stdout.write(json_printable(json.dumps(doc, ensure_ascii=False, indent=2)) + "\n")
