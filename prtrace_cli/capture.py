"""Commands that record: start, note, run, pr, status, uninstall."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prtrace_cli.state import current_repo, open_buffer, open_home, recorder, settings

if TYPE_CHECKING:
    from rich.console import Console

    from prtrace_daemon.paths import Home

__all__ = ["note", "pause", "pr", "resume", "run", "start", "status", "uninstall"]


def _plain(value: object) -> str:
    from prtrace_cli.render import plain

    return plain(value)


def _out() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)  # a long path stays on its line, for a terminal or a pipe


def start(
    no_daemon: Annotated[
        bool, typer.Option("--no-daemon", help="Do not start the daemon (CI, containers): edits are found when prtrace next records.")
    ] = False,
) -> None:
    """Start recording this repository: register it, take the first snapshot, install the git
    hooks, and start the capture daemon if none is running. Returns once capture is live."""
    from prtrace_daemon.hooks import install_hooks
    from prtrace_daemon.process import running, start_background

    repo = current_repo()
    home = open_home()
    with open_buffer(home) as buffer:
        rec = recorder(home, buffer)
        new = rec.register(repo)
        hooks = install_hooks(repo, home.root)
        recorded = rec.record(repo)
        trace = buffer.trace(recorded.trace_id)
    daemon_note = ""
    if not no_daemon:
        info = running(home)
        if info is None:
            info = start_background(home)
            daemon_note = f"; daemon started (pid {info.pid})"
        else:
            daemon_note = f"; daemon running (pid {info.pid})"
    console = _out()
    assert trace is not None
    verb = "Recording" if new else "Already recording"
    console.print(
        f"[green]{verb}[/] {_plain(trace.repo_name)} on branch [bold]{_plain(trace.branch)}[/] (trace {trace.trace_id})"
        f"{daemon_note}"
    )
    for name in hooks.chained:
        console.print(f"kept your existing {name} hook: it still runs after prtrace's")
    for reason in hooks.skipped:
        console.print(f"[yellow]note:[/] {_plain(reason)}")


def note(text: Annotated[str, typer.Argument(help="What you want the trace to remember, in your words.")]) -> None:
    """Add a note (an `annotation` event) to the current branch's trace."""
    from prtrace_cli import hot

    _out().print(hot.note(text))


def run(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments, after `--`.")],
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="A JUnit XML report the command writes: its results become the test event."),
    ] = None,
) -> None:
    """Run a command, passing its output through, and record it; exits with the command's own code.

    A recognised test runner (pytest, unittest, jest, vitest, mocha, node --test, go test,
    cargo test, or a package script that runs one) is recorded as a `test` event with its
    passed/failed/skipped counts and the failing tests' names.
    """
    from prtrace_cli import hot

    raise typer.Exit(hot.run(command, junit))


def pr(
    ref: Annotated[str, typer.Argument(help="The pull request: 123, PR-123 or owner/repo#123.")],
    title: Annotated[str | None, typer.Option(help="The PR's title.")] = None,
) -> None:
    """Link the current branch's trace to its pull request."""
    from prtrace_core.refs import PrRef, parse_ref
    from prtrace_daemon.errors import ConfigError

    parsed = parse_ref(ref)
    if not isinstance(parsed, PrRef):
        raise ConfigError(f"not a pull request reference: {ref}", hint="use 123, PR-123 or owner/repo#123")
    repo = current_repo()
    home = open_home()
    with open_buffer(home) as buffer:
        rec = recorder(home, buffer)
        recorded = rec.record(repo)
        trace = buffer.trace(recorded.trace_id)
        assert trace is not None
        if parsed.repo is None and "/" not in trace.repo_name:
            raise ConfigError(
                f"cannot tell which GitHub repository {trace.repo_name!r} is (it has no origin remote)",
                hint=f"name it in full: prtrace pr owner/repo#{parsed.number}",
            )
        pr_id = parsed.pr_id(trace.repo_name)
        info = {**(trace.pr or {}), "pr_id": pr_id, "status": (trace.pr or {}).get("status", "open")}
        if title:
            info["title"] = rec.redactor.text(title)  # it travels in every batch's envelope
        buffer.set_pr(trace.trace_id, info)
    _out().print(f"trace {trace.trace_id} ({_plain(trace.branch)}) is now linked to {_plain(pr_id)}")


def status() -> None:
    """Show what prtrace records here and how many events wait to be pushed."""
    from prtrace_cli.render import plain  # recorded names and paths: printable, never markup
    from prtrace_daemon.errors import NotAGitRepo

    home = open_home()
    console = _out()
    with open_buffer(home) as buffer:
        counts = buffer.counts()
        conf = settings(home)
        try:
            repo = current_repo()
        except NotAGitRepo:
            repo = None
        lines = [f"state:    {plain(home.root)}"]
        if repo is not None:
            row = buffer.repo(str(repo.root))
            if row is None:
                lines.append(f"repo:     {plain(repo.root)} [yellow](not recorded — run `prtrace start`)[/]")
            elif row.paused:
                lines.append(f"repo:     {plain(row.name)} ({plain(row.path)}) [yellow]paused[/] (`prtrace resume` records again)")
            else:
                rec = recorder(home, buffer)
                recorded = rec.record(repo)
                trace = buffer.trace(recorded.trace_id)
                assert trace is not None
                tc = buffer.trace_counts(trace.trace_id)
                lines.append(f"repo:     {plain(row.name)} ({plain(row.path)})")
                lines.append(f"branch:   {plain(trace.branch)}  trace {trace.trace_id}")
                if trace.pr:
                    lines.append(f"pr:       {plain(trace.pr['pr_id'])}")
                lines.append(f"events:   {trace.last_seq} in this trace, {tc['pending']} waiting to be pushed")
                counts = buffer.counts()
        lines.append(f"repos:    {len(buffer.repos())} recorded")
        lines.append(_daemon_line(home))
        lines.append(
            f"buffer:   {counts['pending']} waiting to be pushed, {counts['acked']} pushed"
            + (f", [red]{counts['rejected']} rejected by the server[/]" if counts["rejected"] else "")
        )
        lines += _quarantine_lines(home)
        lines.append(f"server:   {plain(conf.server) if conf.server else '(none set: use --server, PRTRACE_SERVER or prtrace login)'}")
    for line in lines:
        console.print(line)


def _quarantine_lines(home: Home) -> list[str]:
    """Spool lines that failed to record and were set aside: how many, where, what to do."""
    from prtrace_cli.render import plain
    from prtrace_daemon.spool import QUARANTINE, quarantined

    count = quarantined(home.spool)
    if not count:
        return []
    folder = home.spool / QUARANTINE
    return [
        f"spool:    [yellow]{count} line(s) could not be recorded[/] and are kept in {plain(folder)}",
        f"          hint: each `.why` file says why; once fixed, `mv {plain(folder)}/*.spool {plain(home.spool)}/` records them",
    ]


def _daemon_line(home: Home) -> str:
    from prtrace_daemon.daemon import read_state
    from prtrace_daemon.process import running

    info = running(home)
    if info is None:
        return "daemon:   [yellow]not running[/] (prtrace start runs it; edits are still found when prtrace records)"
    state = read_state(home) or {}
    watched = state.get("repos", [])
    from prtrace_cli.render import plain

    return f"daemon:   running (pid {info.pid}) since {plain(state.get('started_at', '?'))}, watching {len(watched)} repo(s)"


def pause() -> None:
    """Stop recording this repository for now: nothing you edit, type or commit here is recorded
    until `prtrace resume`. A `pause` event marks where the trace stops."""
    repo = current_repo()
    home = open_home()
    with open_buffer(home) as buffer:
        recorder(home, buffer).pause(repo)
    _out().print(f"[yellow]paused[/]: nothing in {_plain(repo.root)} is recorded until `prtrace resume`")


def resume() -> None:
    """Record this repository again, from the tree as it is now. The `resume` event names the
    files changed while paused, not what was changed."""
    repo = current_repo()
    home = open_home()
    with open_buffer(home) as buffer:
        recorded = recorder(home, buffer).resume(repo)
        events = buffer.events(recorded.trace_id)
    last = events[-1] if events else {}
    changed = last.get("payload", {}).get("changed_while_paused", []) if last.get("type") == "resume" else []
    note = f" ({len(changed)} file(s) changed while paused, not recorded)" if changed else ""
    _out().print(f"[green]recording[/] {_plain(repo.root)} again{note}")


def uninstall() -> None:
    """Stop recording this repository: remove prtrace's git hook (restoring yours) and unregister it.

    Events already buffered stay and can still be pushed.
    """
    from prtrace_daemon.hooks import uninstall_hooks

    repo = current_repo()
    home = open_home()
    uninstall_hooks(repo, home.root)
    with open_buffer(home) as buffer:
        rec = recorder(home, buffer)
        rec.unregister(repo)
    _out().print(f"prtrace no longer records {_plain(repo.root)}")
