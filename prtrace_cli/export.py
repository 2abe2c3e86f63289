"""`prtrace export`: traces as rows for DuckDB, pandas, Spark or Trino."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from prtrace_cli.traces import select_traces, since_option, source_for

__all__ = ["export"]


def export(
    refs: Annotated[list[str] | None, typer.Argument(help="Traces: PR-123, 123, owner/repo#123, trace ids, branches or trace files.")] = None,
    out: Annotated[str, typer.Option("--out", help="A .jsonl or .parquet file, or a folder (or s3://bucket/prefix) for a Hive-partitioned Parquet dataset.")] = ...,  # type: ignore[assignment]
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl or parquet (default: from --out's suffix; parquet for a folder).")] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="Every trace of this repository (owner/repo).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only traces active since: 2026-12-01, a timestamp, or an age (7d, 12h).", callback=since_option)] = None,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
) -> None:
    """One row per event, with the trace's fields alongside: typed columns (trace_id, repo,
    branch, pr_id, developer, seq, ts, type, actor, file, command, exit_code, test counts, sha)
    and the whole payload as JSON. See docs/export.md."""
    from rich.console import Console

    from prtrace_daemon.client_errors import UnknownRef
    from prtrace_daemon.exporting import ExportError, write_dataset, write_file

    folder = out.endswith("/") or out.startswith("s3://") or Path(out).is_dir()
    if fmt is None:
        fmt = "jsonl" if out.endswith((".jsonl", ".ndjson", ".json")) else "parquet"
    if fmt not in ("jsonl", "parquet"):
        raise typer.BadParameter(f"{fmt!r}: use jsonl or parquet", param_hint="--format")
    if folder and fmt != "parquet":
        raise ExportError(f"{out} is a folder: a dataset is written as Parquet", hint="name a .jsonl file, or use --format parquet")
    if not refs and repo is None:
        from prtrace_cli.traces import _need_repo

        repo = _need_repo("export with no REF")
    source = source_for(local=local, server=server)
    lines_files = [Path(r) for r in refs or [] if r.endswith((".jsonl", ".ndjson"))]
    if refs and len(lines_files) == len(refs) and repo is None and since is None:
        # JSON-lines trace files (an earlier export, compacted objects): converted line by line
        rows: Iterable[dict[str, Any]] = _file_rows(lines_files)
        what = f"of {len(lines_files)} file(s)"
    elif source.server and not refs:
        # a whole repository from the server: its streamed export, row by row
        rows = _server_rows(source, repo=repo, since=since)
        what = f"of {repo}"
    else:
        traces = select_traces(refs or [], source, repo=repo, since=since)
        if not traces:
            raise UnknownRef("no trace matches" + (f" in {repo}" if repo else "") + (f" since {since}" if since else ""))
        rows = _rows(traces)
        what = f"of {len(traces)} trace(s)"
    count = write_dataset(rows, out) if folder else write_file(rows, Path(out), fmt)
    if count == 0:
        if not folder:
            Path(out).unlink(missing_ok=True)
        raise UnknownRef("no event matches" + (f" in {repo}" if repo else "") + (f" since {since}" if since else ""))
    Console(stderr=True, highlight=False).print(f"exported {count} event(s) {what} to {out}")


def _file_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    from prtrace_core.tracefile import NotATraceFile, rows_from_lines

    for path in paths:
        try:
            with path.open("rb") as lines:
                yield from rows_from_lines(lines, str(path))
        except OSError as exc:
            raise NotATraceFile(f"cannot read {path}: {exc.strerror or exc}") from exc


def _server_rows(source: Any, *, repo: str | None, since: str | None) -> Iterator[dict[str, Any]]:
    import orjson

    from prtrace_cli.traces import _client
    from prtrace_core.timestamps import format_ts, parse_since

    bound = format_ts(parse_since(since)) if since else None
    with _client(source) as client:
        for line in client.stream_lines("/v1/export", format="jsonl", repo=repo, since=bound):
            if line.strip():
                yield orjson.loads(line)


def _rows(traces: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from prtrace_core.export import event_row
    from prtrace_core.stats import trace_order

    for trace in traces:
        for event in trace_order(trace.get("events") or []):
            yield event_row(trace, event)
