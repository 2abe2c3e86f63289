"""`prtrace stats`: how the work went, per trace and over many — as a table, JSON or CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from prtrace_cli.traces import select_traces, since_option, source_for
from prtrace_core.actors import ActorKind

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["stats"]

_HEADINGS = {
    "events": "events", "duration_s": "duration", "active_s": "active time", "edits": "edits",
    "files_touched": "files touched", "lines_added": "lines +", "lines_removed": "lines −",
    "commands": "commands", "test_runs": "test runs", "green_runs": "green runs",
    "time_to_first_green_s": "to first green", "red_green_cycles": "red→green", "edits_between_tests":
    "edits between tests", "commits": "commits", "rewrites": "rewrites", "agent_events": "agent events",
    "agent_share": "agent share", "agent_lines": "agent lines", "human_lines": "human lines",
    "unknown_lines": "unknown lines", "agent_line_share": "agent line share",
}


def stats(
    refs: Annotated[list[str] | None, typer.Argument(help="Traces: PR-123, 123, owner/repo#123, trace ids, branches or trace files.")] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="Every trace of this repository (owner/repo).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only traces active since: 2026-12-01, a timestamp, or an age (7d, 12h).", callback=since_option)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout: a row per trace, then the total.")] = False,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
    actor: Annotated[ActorKind | None, typer.Option("--actor", help="The figures of the agents' events only, or of the developer's (events with no recorded actor count for neither).")] = None,
) -> None:
    """Duration and active time, edits, files, churn, commands, test runs, time to first green,
    red→green cycles, edits between test runs, commits and rewrites, agent share, and the agent
    line share (lines agents wrote over lines of known author, per commit too) — per trace and
    in total. With no REF and no --repo: the current repository's traces. With --actor: the
    figures of that actor's events alone (read from the traces, not the server's SQL totals)."""
    from prtrace_core.actors import filter_events
    from prtrace_core.stats import combine, combine_lines, line_stats, trace_stats
    from prtrace_daemon.client_errors import UnknownRef

    if not refs and repo is None:
        from prtrace_cli.traces import _need_repo

        repo = _need_repo("stats with no REF")
    source = source_for(local=local, server=server)
    if source.server and not refs and actor is None:  # the server's SQL figures cover every actor
        rows, total = _server_stats(source, repo=repo, since=since)
        if not rows:
            raise UnknownRef(f"no trace of {repo} on {source.server}" + (f" since {since}" if since else ""))
        _show(rows, total, as_json=as_json, as_csv=as_csv)
        return
    traces = select_traces(refs or [], source, repo=repo, since=since)
    if not traces:
        raise UnknownRef("no trace matches" + (f" in {repo}" if repo else "") + (f" since {since}" if since else ""))
    rows = []
    for trace in traces:
        figures = trace_stats(filter_events(trace.get("events") or [], actor))
        rows.append({
            "trace_id": trace.get("trace_id"),
            "repo": (trace.get("repo") or {}).get("name"),
            "branch": (trace.get("repo") or {}).get("branch"),
            "pr_id": (trace.get("pr") or {}).get("pr_id"),
            **{k: v for k, v in figures.items() if not k.startswith("_")},
            **line_stats(trace.get("events") or []),  # who wrote the committed lines: every commit's
            **{k: v for k, v in figures.items() if k.startswith("_")},
        })
    total = {**combine(rows), **combine_lines(rows)}
    for row in rows:
        for key in [k for k in row if k.startswith("_")]:
            del row[key]
    _show(rows, total, as_json=as_json, as_csv=as_csv)


def _server_stats(source: Any, *, repo: str | None, since: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A whole repository's figures, computed by the server in SQL (GET /v1/stats)."""
    from prtrace_cli.traces import _client
    from prtrace_core.timestamps import format_ts, parse_since

    bound = format_ts(parse_since(since)) if since else None
    with _client(source) as client:
        answer = client.get_json("/v1/stats", repo=repo, since=bound) or {}
    return list(answer.get("traces") or []), dict(answer.get("total") or {})


def _show(rows: list[dict[str, Any]], total: dict[str, Any], *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        import json
        import sys

        from prtrace_core.text import json_printable

        sys.stdout.write(json_printable(json.dumps({"traces": rows, "total": total}, ensure_ascii=False, indent=2)) + "\n")
    elif as_csv:
        _csv(rows, total)
    else:
        _table(rows, total)


def _csv(rows: list[dict[str, Any]], total: dict[str, Any]) -> None:
    import csv
    import sys

    from prtrace_core.stats import FIELDS, LINE_FIELDS
    from prtrace_core.text import printable

    columns = ["trace_id", "repo", "branch", "pr_id", *FIELDS, *LINE_FIELDS]
    writer = csv.DictWriter(sys.stdout, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    # CSV has no escapes: recorded text (a branch, a repo name) loses its control characters.
    writer.writerows({k: printable(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows)
    writer.writerow({**total, "trace_id": "total", "repo": "", "branch": f"{total['traces']} traces"})


def _time(seconds: Any) -> str:
    if seconds is None:
        return "–"
    seconds = round(float(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _cell(key: str, value: Any) -> Text:
    """A figure as a table cell: Text, so a value from a server is never read as markup."""
    from rich.text import Text

    from prtrace_cli.render import line

    if key.endswith("_s"):
        return Text(_time(value))
    if key in ("agent_share", "agent_line_share"):
        return Text("–" if value is None else f"{float(value) * 100:.0f}%")
    return Text("–" if value is None else line(value))


def _table(rows: list[dict[str, Any]], total: dict[str, Any]) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from prtrace_cli.render import line
    from prtrace_core.stats import FIELDS, LINE_FIELDS

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 220)
    shown = (*FIELDS, *LINE_FIELDS)
    if len(rows) <= 6:  # a few traces read best as a column each, the figures down the side
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("", style="dim", no_wrap=True)
        for row in rows:
            # Text, not a markup string: a branch is recorded text, `[bold]` in it prints as is
            table.add_column(Text(f"{line(row.get('branch'))}\n{line(row.get('trace_id'))[:8]}"), justify="right", no_wrap=True)
        if len(rows) > 1:
            table.add_column(f"total\n{len(rows)} traces", justify="right", style="bold", no_wrap=True)
        for key in shown:
            cells = [_cell(key, row.get(key)) for row in rows]
            table.add_row(_HEADINGS[key], *cells, *([_cell(key, total.get(key))] if len(rows) > 1 else []))
        console.print(table)
        _commit_table(console, rows)
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, show_footer=len(rows) > 1)
    table.add_column("trace", footer=f"total ({len(rows)})", no_wrap=True)
    for key in shown:
        table.add_column(_HEADINGS[key], justify="right", footer=_cell(key, total.get(key)), no_wrap=True)
    for row in rows:
        label = Text(f"{line(row.get('branch'))} {line(row.get('trace_id'))[:8]}")
        table.add_row(label, *(_cell(key, row.get(key)) for key in shown))
    console.print(table)


def _commit_table(console: Any, rows: list[dict[str, Any]]) -> None:
    """Who wrote each commit's lines, under the figures of a few traces (when any says)."""
    from rich.table import Table
    from rich.text import Text

    from prtrace_cli.render import line
    from prtrace_core.stats import LINE_FIELDS

    commits = [(row, commit) for row in rows for commit in row.get("commit_lines") or []]
    if not commits:
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, title="lines by commit")
    table.add_column("commit", no_wrap=True)
    table.add_column("branch", no_wrap=True)
    for key in LINE_FIELDS:
        table.add_column(_HEADINGS[key], justify="right", no_wrap=True)
    for row, commit in commits:
        cells = [_cell(key, commit.get(key)) for key in LINE_FIELDS]
        table.add_row(Text(line(commit.get("sha"))[:8]), Text(line(row.get("branch"))), *cells)
    console.print(table)
