"""`prtrace show REF`: a trace as a timeline, or as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from prtrace_cli.state import current_repo, open_buffer, open_home, recorder, settings

if TYPE_CHECKING:
    from prtrace_core.refs import Ref
    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.push import ServerClient

__all__ = ["show"]


def _repo_name() -> str | None:
    from prtrace_daemon.errors import NotAGitRepo

    try:
        return current_repo().name()
    except NotAGitRepo:
        return None


def _need_repo(ref_text: str) -> str:
    from prtrace_daemon.errors import UnknownRef

    name = _repo_name()
    if name is None:
        raise UnknownRef(
            f"{ref_text} needs a repository to resolve in",
            hint="run it inside the repository, or name it in full: owner/repo#123",
        )
    return name


def _local(buffer: Buffer, ref: Ref, text: str) -> list[dict[str, Any]]:
    from prtrace_core.refs import BranchRef, PrRef, TraceRef
    from prtrace_daemon.envelope import local_trace

    if isinstance(ref, TraceRef):
        row = buffer.trace(ref.trace_id)
        rows = [row] if row else []
    elif isinstance(ref, PrRef):
        rows = buffer.traces(pr_id=ref.pr_id(ref.repo or _need_repo(text)))
    else:
        assert isinstance(ref, BranchRef)
        from prtrace_daemon.errors import NotAGitRepo

        try:
            repo_path: str | None = str(current_repo().root)
        except NotAGitRepo:
            repo_path = None
        rows = buffer.traces(repo_path=repo_path, branch=ref.branch)
    return [local_trace(buffer, row) for row in rows]


def _remote(client: ServerClient, ref: Ref, text: str) -> list[dict[str, Any]]:
    from prtrace_core.refs import BranchRef, PrRef, TraceRef

    if isinstance(ref, TraceRef):
        trace = client.get_json(f"/v1/traces/{ref.trace_id}")
        return [trace] if trace else []
    if isinstance(ref, PrRef):
        listing = client.get_json("/v1/traces", pr=ref.pr_id(ref.repo or _need_repo(text)))
    else:
        assert isinstance(ref, BranchRef)
        listing = client.get_json("/v1/traces", repo=_need_repo(text), branch=ref.branch)
    items = (listing or {}).get("traces", []) if isinstance(listing, dict) else listing or []
    traces = []
    for item in items:
        trace = client.get_json(f"/v1/traces/{item['trace_id']}")
        if trace:
            traces.append(trace)
    return traces


def show(
    ref: Annotated[str, typer.Argument(help="PR-123, 123, owner/repo#123, a trace id, a branch, or a trace .json file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace JSON (and nothing else) on stdout.")] = False,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
    types: Annotated[list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")] = None,
    diffs: Annotated[bool, typer.Option("--diffs", help="Show each edit's diff.")] = False,
) -> None:
    """Show a trace as a timeline (seq, time, type, summary), from the server when one is set."""
    import contextlib
    import json
    import sys

    from rich.console import Console

    from prtrace_core.errors import PrtraceError
    from prtrace_core.refs import FileRef, parse_ref
    from prtrace_daemon.errors import UnknownRef

    parsed = parse_ref(ref)
    home = open_home()
    conf = settings(home, server)
    if isinstance(parsed, FileRef):
        try:
            traces = [json.loads(parsed.path.read_text(encoding="utf-8"))]
        except (OSError, ValueError) as exc:
            raise UnknownRef(f"cannot read {parsed.path} as a trace: {exc}") from exc
        source = str(parsed.path)
    elif conf.server and not local:
        from prtrace_daemon.push import ServerClient

        with ServerClient(conf.server, conf.token, attempts=3) as client:
            traces = _remote(client, parsed, ref)
        source = conf.server
    else:
        with open_buffer(home) as buffer:
            with contextlib.suppress(PrtraceError):  # reading works even when the spool cannot drain
                recorder(home, buffer).drain()
            traces = _local(buffer, parsed, ref)
        source = "local buffer"
    if not traces:
        raise UnknownRef(f"no trace matches {ref!r} in the {source}", hint="try `prtrace status`, or --local")
    if types:
        wanted = set(types)
        for trace in traces:
            trace["events"] = [e for e in trace.get("events", []) if e.get("type") in wanted]
    if as_json:
        doc = traces[0] if len(traces) == 1 else traces
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    from prtrace_cli.render import render_trace

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    for trace in traces:
        render_trace(console, trace, diffs=diffs)
