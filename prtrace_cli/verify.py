"""`prtrace verify REF`: is the trace whole, in order, and true to the code it produced?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prtrace_cli.traces import load_one, source_for
from prtrace_core.actors import ActorKind

if TYPE_CHECKING:
    from prtrace_daemon.gitrepo import GitRepo

__all__ = ["repo_for", "verify"]


def repo_for(trace: dict[str, Any], repo: Path | None) -> tuple[GitRepo | None, str | None]:
    """The repository to check against: `--repo`, else the current one when it is the trace's
    own (by name); (None, why) when there is none."""
    from prtrace_daemon.client_errors import NotAGitRepo
    from prtrace_daemon.gitrepo import find_repo

    if repo is not None:
        if not repo.is_dir():
            raise NotAGitRepo(f"--repo {repo}: no such folder")
        return find_repo(repo), None
    try:
        here = find_repo(Path.cwd())
    except NotAGitRepo:
        return None, "not inside a repository (name one with --repo)"
    name = (trace.get("repo") or {}).get("name")
    if name and here.name() != name and here.root.name != str(name).rsplit("/", 1)[-1]:
        return None, f"the current repository is {here.name()}, not the trace's {name} (name it with --repo)"
    return here, None


def verify(
    ref: Annotated[str, typer.Argument(help="PR-123, 123, owner/repo#123, a trace id, a branch, or a trace .json/.jsonl file.")],
    repo: Annotated[Path | None, typer.Option("--repo", help="The repository to check commits against (default: the current one, when it is the trace's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Seconds a ts may run backwards before it counts.", min=0)] = 2.0,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
    actor: Annotated[ActorKind | None, typer.Option("--actor", help="Check the whole trace, but list (and exit 1 for) only the findings that name an event of the agents, or of the developer.")] = None,
) -> None:
    """Check a trace: seq gaps and duplicates, clock order, the start event, every file's chain
    of versions, that each diff applies, and (with the repository) that each commit holds what
    the edits before it produced. Exit 0 clean, 1 with faults, 2 when it cannot check.

    With --actor the checks still run over every event (a chain of versions crosses actors);
    only the findings naming one of that actor's events are listed and decide the exit code."""
    import json
    import sys

    from prtrace_core.verify import verify_trace
    from prtrace_daemon.blobs import BlobCache
    from prtrace_daemon.gitobjects import GitSources
    from prtrace_daemon.paths import home

    trace = load_one(ref, source_for(local=local, server=server))
    git, why = repo_for(trace, repo)
    sources = GitSources(git, BlobCache(home().blobs)) if git is not None else None
    try:
        report = verify_trace(trace, sources=sources, tolerance_s=tolerance)
    finally:
        if sources is not None:
            sources.close()
    if why:
        report.notes.insert(0, f"commits not compared: {why}")
    if actor is not None:
        _only_actor(report, trace, actor)
    if as_json:
        from prtrace_core.text import json_printable

        sys.stdout.write(json_printable(json.dumps(report.as_dict(), ensure_ascii=False, indent=2)) + "\n")
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _only_actor(report: Any, trace: dict[str, Any], actor: str) -> None:
    """Keep the findings that name at least one of `actor`'s events; say how many were not."""
    from prtrace_core.actors import filter_events

    theirs = {e.get("seq") for e in filter_events(trace.get("events") or [], actor)}
    kept = [f for f in report.findings if theirs.intersection(f.seqs)]
    if len(kept) < len(report.findings):
        report.notes.append(f"{len(report.findings) - len(kept)} finding(s) naming no {actor} event left out (--actor {actor})")
    report.findings = kept


def _print(report: Any) -> None:
    from rich.console import Console
    from rich.text import Text

    from prtrace_cli.render import line

    # Findings quote the trace (file names, shas, a repository's name): printable lines only.
    console = Console(highlight=False, soft_wrap=True)
    faults = report.faults
    head = Text.assemble(("trace ", "dim"), (line(report.trace_id), "bold"), (f"  {report.events} events", "dim"))
    console.print(head)
    failed = {f.check for f in faults}
    for check in report.checked:
        mark = Text("✗ ", "bold red") if check in failed else Text("✓ ", "green")
        console.print(mark + Text(line(check)))
    for finding in report.findings:
        style = "yellow" if finding.warning else "red"
        kind = "warning" if finding.warning else "fault"
        console.print(Text(f"  {kind} [{line(finding.check)}] {line(finding.message)}", style))
    for note in report.notes:
        console.print(Text(f"  note: {line(note)}", "dim"))
    if faults:
        console.print(Text(f"{len(faults)} fault(s)", "bold red"))
    else:
        console.print(Text("clean", "bold green"))
