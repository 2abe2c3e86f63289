"""`prtrace export`: traces as rows for DuckDB, pandas, Spark or Trino."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from prtrace_cli.traces import select_traces, since_option, source_for
from prtrace_core.actors import ActorKind

__all__ = ["export"]


def export(
    refs: Annotated[list[str] | None, typer.Argument(help="Traces: PR-123, 123, owner/repo#123, trace ids, branches or trace files.")] = None,
    out: Annotated[str, typer.Option("--out", help="A .jsonl or .parquet file, or a folder (or s3://bucket/prefix) for a Hive-partitioned Parquet dataset; with --format agent-trace a JSON-lines file, or - for stdout.")] = ...,  # type: ignore[assignment]
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, parquet, or agent-trace: Agent Trace v0.1 records, one per commit with known line authorship (default: from --out's suffix; parquet for a folder).")] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="Every trace of this repository (owner/repo).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only traces active since: 2026-12-01, a timestamp, or an age (7d, 12h).", callback=since_option)] = None,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
    actor: Annotated[ActorKind | None, typer.Option("--actor", help="Only the agents' events, or only the developer's; with agent-trace, only their conversations.")] = None,
) -> None:
    """One row per event, with the trace's fields alongside: typed columns (trace_id, repo,
    branch, pr_id, developer, seq, ts, type, actor, file, command, exit_code, test counts, sha)
    and the whole payload as JSON. See docs/export.md.

    --format agent-trace writes Agent Trace v0.1 records instead: per commit, which lines of
    each file an agent or the developer wrote (docs/agent-trace.md)."""
    from rich.console import Console

    from prtrace_daemon.client_errors import UnknownRef
    from prtrace_daemon.exporting import ExportError, write_dataset, write_file

    folder = out.endswith("/") or out.startswith("s3://") or Path(out).is_dir()
    if fmt is None:
        fmt = "jsonl" if out.endswith((".jsonl", ".ndjson", ".json")) else "parquet"
    if fmt not in ("jsonl", "parquet", "agent-trace"):
        raise typer.BadParameter(f"{fmt!r}: use jsonl, parquet or agent-trace", param_hint="--format")
    if fmt == "agent-trace":
        if folder:
            raise ExportError(f"{out} is a folder: Agent Trace records go to one file", hint="name a .jsonl file, or - for stdout")
        _agent_trace(refs or [], out, repo=repo, since=since, local=local, server=server, actor=actor)
        return
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
    if actor is not None:  # rows of every origin (traces, the server's export, files) carry it
        rows = (row for row in rows if row.get("actor_kind") == actor)
    count = write_dataset(rows, out) if folder else write_file(rows, Path(out), fmt)
    if count == 0:
        if not folder:
            Path(out).unlink(missing_ok=True)
        raise UnknownRef("no event matches" + (f" in {repo}" if repo else "") + (f" since {since}" if since else ""))
    Console(stderr=True, highlight=False).print(f"exported {count} event(s) {what} to {out}")


def _agent_trace(
    refs: list[str], out: str, *, repo: str | None, since: str | None, local: bool, server: str | None, actor: str | None
) -> None:
    """The traces' commits with known authorship as Agent Trace records, one JSON line each."""
    import sys
    from importlib.metadata import version

    import orjson
    from rich.console import Console

    from prtrace_core.agent_trace import trace_records
    from prtrace_daemon.client_errors import UnknownRef
    from prtrace_daemon.exporting import ExportError

    if not refs and repo is None:
        from prtrace_cli.traces import _need_repo

        repo = _need_repo("export with no REF")
    source = source_for(local=local, server=server)
    traces = select_traces(refs, source, repo=repo, since=since)
    if not traces:
        raise UnknownRef("no trace matches" + (f" in {repo}" if repo else "") + (f" since {since}" if since else ""))
    urls = {str(t.get("trace_id")): f"{source.server}/v1/traces/{t.get('trace_id')}" for t in traces} if source.server else None
    with _committed_files() as content:
        found = trace_records(traces, tool_version=version("prtrace"), actor_kind=actor, trace_urls=urls, content=content)
    if not found:
        raise ExportError(
            f"no commit of the {len(traces)} trace(s) has known line authorship" + (f" (--actor {actor})" if actor else ""),
            hint="commits recorded with agents at work carry it; `prtrace import git-ai` or `prtrace import entire` bring in other tools' records",
        )
    data = b"".join(orjson.dumps(record) + b"\n" for record in found)
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            Path(out).write_bytes(data)
        except OSError as exc:
            raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    where = "stdout" if out == "-" else out
    Console(stderr=True, highlight=False).print(f"exported {len(found)} Agent Trace record(s) of {len(traces)} trace(s) to {where}")


@contextmanager
def _committed_files() -> Iterator[Any]:
    """A reader of committed files from the current repository (for each range's content
    hash), or None outside one; a commit or file the repository lacks reads as None. One
    `git cat-file` process answers for every file, however many the records name."""
    from functools import lru_cache

    from prtrace_daemon.client_errors import NotAGitRepo
    from prtrace_daemon.gitobjects import GitSources

    try:
        from prtrace_cli.state import current_repo

        here = current_repo()
    except NotAGitRepo:
        yield None
        return

    with GitSources(here) as sources:

        @lru_cache(maxsize=256)
        def read(sha: str, path: str) -> bytes | None:
            blob = (sources.blob_ids(sha, [path]) or {}).get(path)
            return sources.blob(blob) if blob is not None else None

        yield read


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
