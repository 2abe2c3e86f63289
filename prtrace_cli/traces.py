"""Finding the traces a reading command names: one REF grammar for show, verify, replay, stats
and export. A REF reads from the server when one is set, from the local buffer with `--local`
(or when none is), and from the file itself when it names one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prtrace_cli.state import current_repo, open_buffer, open_home, recorder, settings

if TYPE_CHECKING:
    from prtrace_core.refs import Ref
    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.push import ServerClient

__all__ = ["Source", "load_one", "load_pr", "load_traces", "select_traces", "since_option", "source_for"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where traces are read from: a server URL (with its token), or the local buffer."""

    server: str | None
    token: str | None = None

    @property
    def name(self) -> str:
        return self.server or "local buffer"


def source_for(*, local: bool, server: str | None) -> Source:
    """The server when one is set (flag, PRTRACE_SERVER, config.toml) and --local is not given."""
    conf = settings(open_home(), server)
    if conf.server and not local:
        return Source(conf.server, conf.token)
    return Source(None)


def _repo_name() -> str | None:
    from prtrace_daemon.client_errors import NotAGitRepo

    try:
        return current_repo().name()
    except NotAGitRepo:
        return None


def _need_repo(ref_text: str) -> str:
    from prtrace_daemon.client_errors import UnknownRef

    name = _repo_name()
    if name is None:
        raise UnknownRef(
            f"{ref_text} needs a repository to resolve in",
            hint="run it inside the repository, or name it in full: owner/repo#123",
        )
    return name


@contextlib.contextmanager
def _drained_buffer() -> Iterator[Buffer]:
    from prtrace_core.errors import PrtraceError

    home = open_home()
    with open_buffer(home) as buffer:
        with contextlib.suppress(PrtraceError):  # reading works even when the spool cannot drain
            recorder(home, buffer).drain()
        yield buffer


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
        from prtrace_daemon.client_errors import NotAGitRepo

        try:
            repo_path: str | None = str(current_repo().root)
        except NotAGitRepo:
            repo_path = None
        rows = buffer.traces(repo_path=repo_path, branch=ref.branch)
    return [local_trace(buffer, row) for row in rows]


def _listing(client: ServerClient, **params: Any) -> Iterator[dict[str, Any]]:
    """Every trace summary the server lists for the filter, page by page."""
    cursor = None
    while True:
        page = client.get_json("/v1/traces", limit=500, **params, **({"cursor": cursor} if cursor else {}))
        if not isinstance(page, dict):
            return
        yield from page.get("traces") or []
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _remote(client: ServerClient, ref: Ref, text: str) -> list[dict[str, Any]]:
    from prtrace_core.refs import BranchRef, PrRef, TraceRef

    if isinstance(ref, TraceRef):
        trace = client.get_json(f"/v1/traces/{ref.trace_id}")
        return [trace] if trace else []
    if isinstance(ref, PrRef):
        items = _listing(client, pr=ref.pr_id(ref.repo or _need_repo(text)))
    else:
        assert isinstance(ref, BranchRef)
        items = _listing(client, repo=_need_repo(text), branch=ref.branch)
    traces = []
    for item in items:
        trace = client.get_json(f"/v1/traces/{item['trace_id']}")
        if trace:
            traces.append(trace)
    return traces


def _client(source: Source) -> ServerClient:
    from prtrace_daemon.push import ServerClient

    assert source.server is not None
    return ServerClient(source.server, source.token, attempts=3)


def load_traces(ref: str, source: Source) -> list[dict[str, Any]]:
    """Every trace REF names (a PR may have several); UnknownRef when it names none."""
    from prtrace_core.refs import FileRef, parse_ref
    from prtrace_daemon.client_errors import UnknownRef

    parsed = parse_ref(ref)
    if isinstance(parsed, FileRef):
        from prtrace_core.tracefile import NotATraceFile, parse_trace_file

        try:
            data = parsed.path.read_bytes()
        except OSError as exc:
            raise NotATraceFile(f"cannot read {parsed.path}: {exc.strerror or exc}") from exc
        return parse_trace_file(data, str(parsed.path))
    if source.server:
        with _client(source) as client:
            traces = _remote(client, parsed, ref)
    else:
        with _drained_buffer() as buffer:
            traces = _local(buffer, parsed, ref)
    if not traces:
        raise UnknownRef(f"no trace matches {ref!r} in the {source.name}",
                         hint="`prtrace status` names this branch's trace; add --local to read the buffer")
    return traces


def load_pr(ref: str, source: Source) -> dict[str, Any] | None:
    """The pull request REF names as one timeline (its traces merged by time, each event with
    its `trace_id`, and, from a server, its CI runs); None when REF is no PR."""
    from prtrace_core.refs import PrRef, parse_ref
    from prtrace_daemon.client_errors import UnknownRef

    parsed = parse_ref(ref)
    if not isinstance(parsed, PrRef):
        return None
    pr_id = parsed.pr_id(parsed.repo or _need_repo(ref))
    repo, _, number = pr_id.rpartition("#")
    document: dict[str, Any] | None = None
    if source.server:
        if repo.count("/") == 1:
            with _client(source) as client:
                document = client.get_json(f"/v1/prs/{repo}/{number}")
    else:
        with _drained_buffer() as buffer:
            traces = _local(buffer, parsed, ref)
        if traces:
            document = _local_pr(pr_id, traces)
    if not document:
        raise UnknownRef(f"no trace matches {ref!r} in the {source.name}",
                         hint="`prtrace pr` links this branch's trace to its PR; add --local to read the buffer")
    return document


def _local_pr(pr_id: str, traces: list[dict[str, Any]]) -> dict[str, Any]:
    """A PR from the local buffer: the same shape as the server's, without CI runs."""
    from prtrace_core.timeline import derive_timeline, merge_by_time

    streams = [[{**event, "trace_id": trace.get("trace_id")} for event in trace.get("events") or []] for trace in traces]
    events = merge_by_time(streams)
    pr = next((t["pr"] for t in traces if isinstance(t.get("pr"), dict)), {"pr_id": pr_id})
    return {
        "pr_id": pr_id,
        "pr": {**pr, "source": "client"},
        "traces": [
            {"trace_id": t.get("trace_id"), "repo": (t.get("repo") or {}).get("name"),
             "branch": (t.get("repo") or {}).get("branch"), "event_count": len(t.get("events") or [])}
            for t in traces
        ],
        "ci_runs": 0,
        "timeline": derive_timeline(events),
        "events": events,
    }


def load_one(ref: str, source: Source) -> dict[str, Any]:
    """The one trace REF names; AmbiguousRef, listing them, when it names several."""
    from prtrace_daemon.client_errors import AmbiguousRef

    traces = load_traces(ref, source)
    if len(traces) > 1:
        listing = "; ".join(
            f"{t.get('trace_id')} ({(t.get('repo') or {}).get('name')} {(t.get('repo') or {}).get('branch')})"
            for t in traces[:10]
        )
        raise AmbiguousRef(f"{ref!r} matches {len(traces)} traces: {listing}",
                           hint="name one of them by its trace id")
    return traces[0]


def select_traces(
    refs: list[str], source: Source, *, repo: str | None = None, since: str | None = None
) -> list[dict[str, Any]]:
    """The traces of the REFs, or of a repository (`owner/repo` as traces name it), active at
    or after `since` (a date, a timestamp or an age such as 7d)."""
    from prtrace_core.timestamps import parse_since

    traces: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ref in refs:
        for trace in load_traces(ref, source):
            if str(trace.get("trace_id")) not in seen:
                seen.add(str(trace.get("trace_id")))
                traces.append(trace)
    if repo is not None:
        traces = [t for t in traces if (t.get("repo") or {}).get("name") == repo] if refs else _repo_traces(repo, source)
    if since is not None:
        limit = parse_since(since).timestamp()
        traces = [t for t in traces if _last_ts(t) >= limit]
    return traces


def since_option(value: str | None) -> str | None:
    """Typer callback: a `--since` the user can be told about at once when it is wrong."""
    import typer

    from prtrace_core.timestamps import parse_since

    if value is not None:
        try:
            parse_since(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _last_ts(trace: dict[str, Any]) -> float:
    from prtrace_core.timestamps import parse_ts

    end = (trace.get("timeline") or {}).get("end_time")
    try:
        return parse_ts(end).timestamp() if isinstance(end, str) else 0.0
    except ValueError:
        return 0.0


def _repo_traces(repo: str, source: Source) -> list[dict[str, Any]]:
    if source.server:
        with _client(source) as client:
            return [t for item in _listing(client, repo=repo) if (t := client.get_json(f"/v1/traces/{item['trace_id']}"))]
    from prtrace_daemon.envelope import local_trace

    with _drained_buffer() as buffer:
        return [local_trace(buffer, row) for row in buffer.traces() if row.repo_name == repo]
