"""Commands that record: start, note, run, pr, status, uninstall."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prtrace_cli.state import current_repo, open_buffer, open_home, recorder, settings

if TYPE_CHECKING:
    from rich.console import Console

    from prtrace_core.refs import PrRef
    from prtrace_daemon.config import Settings
    from prtrace_daemon.gh import PullRequestFacts
    from prtrace_daemon.gitrepo import GitRepo
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
    for agent in _agents_to_hook(repo.root, home):
        console.print(f"{agent} is set up here: `prtrace agent install {agent}` records what it does too")


def _agents_to_hook(root: Path, home: Home) -> list[str]:
    """Agents whose folder the repo has and whose hooks prtrace has not installed; a settings
    file that cannot be read only means no suggestion (start must not fail over it)."""
    from prtrace_daemon.agent_install import not_installed

    try:
        return not_installed(root, Path.home(), home.root)
    except (OSError, RuntimeError):  # no home folder to look in
        return []


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
    ref: Annotated[
        str | None,
        typer.Argument(help="The pull request: 123, PR-123 or owner/repo#123. Leave it out to let the gh CLI find this branch's."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="The PR's title (instead of the one gh reports).")] = None,
) -> None:
    """Link the current branch's trace to its pull request.

    With the gh CLI installed and logged in, `prtrace pr` alone finds the branch's pull request, and with or without a number the title, state (open, closed, merged) and dates are filled in from GitHub. Without gh, give the number.
    """
    from prtrace_core.errors import ConfigError
    from prtrace_core.refs import PrRef, parse_ref

    parsed: PrRef | None = None
    if ref is not None:
        given = parse_ref(ref)
        if not isinstance(given, PrRef):
            raise ConfigError(f"not a pull request reference: {ref}", hint="use 123, PR-123 or owner/repo#123")
        parsed = given
    repo = current_repo()
    facts = _gh_facts(repo, parsed)  # before the buffer is opened: gh may take a few seconds
    home = open_home()
    with open_buffer(home) as buffer:
        rec = recorder(home, buffer)
        recorded = rec.record(repo)
        trace = buffer.trace(recorded.trace_id)
        assert trace is not None
        number = parsed.number if parsed is not None else facts.number if facts is not None else 0
        owner_repo = (parsed.repo if parsed is not None else None) or (facts.repo if facts else None) or trace.repo_name
        if "/" not in owner_repo:
            raise ConfigError(
                f"cannot tell which GitHub repository {trace.repo_name!r} is (it has no origin remote)",
                hint=f"name it in full: prtrace pr owner/repo#{number}",
            )
        pr_id = f"{owner_repo}#{number}"
        previous = trace.pr or {}
        # Facts of another PR (one linked before) do not carry over to this one.
        info = {**previous} if previous.get("pr_id") == pr_id else {}
        info["pr_id"] = pr_id
        if facts is not None:
            for key, value in (("title", facts.title), ("status", facts.status),
                               ("created_at", facts.created_at), ("merged_at", facts.merged_at)):
                if value is not None:
                    info[key] = value
        if title:
            info["title"] = title
        if isinstance(info.get("title"), str):
            info["title"] = rec.redactor.text(info["title"])  # it travels in every batch's envelope
        info.setdefault("status", "open")
        buffer.set_pr(trace.trace_id, info)
    named = f" “{_plain(info['title'])}”" if info.get("title") else ""
    _out().print(
        f"trace {trace.trace_id} ({_plain(trace.branch)}) is now linked to {_plain(pr_id)}{named} ({_plain(info['status'])})"
    )


def _gh_facts(repo: GitRepo, parsed: PrRef | None) -> PullRequestFacts | None:
    """What gh says of the PR: the branch's (no number given; gh must answer) or the one named
    (gh failing or missing then only means fewer facts, said in a note on stderr)."""
    from prtrace_daemon.gh import GhFailed, GhMissing, pr_view

    if parsed is None:
        return pr_view(repo.root)
    # gh finds the repository from the work tree's remotes (any host); --repo only for another
    named = parsed.repo if parsed.repo is not None and parsed.repo != repo.name() else None
    try:
        return pr_view(repo.root, parsed.number, repo=named)
    except GhMissing:
        return None
    except GhFailed as exc:
        from rich.console import Console

        from prtrace_core.text import printable

        Console(stderr=True, highlight=False, soft_wrap=True).print(
            printable(f"note: linked by number only; gh could not fill in the rest: {exc}", one_line=True),
            style="yellow", markup=False,
        )
        return None


def status() -> None:
    """Show what prtrace records here, how many events wait to be pushed, whether the daemon
    pushes them on its own (and when it last pushed, or that the server is unreachable), and
    why the server rejected any it did."""
    from prtrace_cli.render import plain  # recorded names and paths: printable, never markup
    from prtrace_daemon.client_errors import NotAGitRepo

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
        if counts["rejected"]:
            lines += _rejected_lines(buffer.rejected_reasons())
        lines += _quarantine_lines(home)
        lines.append(f"server:   {plain(conf.server) if conf.server else '(none set: use --server, PRTRACE_SERVER or prtrace login)'}")
        lines += _push_lines(home, conf)
    for line in lines:
        console.print(line)


REJECTED_SHOWN = 3  # reasons listed by `status`; the rest are counted


def _rejected_lines(reasons: list[tuple[str, int]]) -> list[str]:
    """The server's reasons for the events it rejected, grouped by their code (`schema`,
    `event_too_large` …), the most common first, each with one of its messages."""
    from prtrace_cli.render import plain

    groups: dict[str, list[Any]] = {}
    for reason, n in reasons:
        code = reason.partition(":")[0].strip() if ":" in reason else (reason.strip() or "rejected")
        group = groups.setdefault(code, [0, reason])
        group[0] += n
    ranked = sorted(groups.items(), key=lambda item: -item[1][0])
    lines = []
    for at, (code, (n, example)) in enumerate(ranked[:REJECTED_SHOWN]):
        head = "rejected: " if at == 0 else "          "
        message = example.partition(":")[2].strip() if ":" in example else ""
        said = f": {message}" if n == 1 else f", e.g. {message}" if message else ""
        lines.append(f"{head}{n} × {plain(code)}{plain(said)[:200]}")
    if len(ranked) > REJECTED_SHOWN:
        rest = sum(n for _, (n, _) in ranked[REJECTED_SHOWN:])
        lines.append(f"          and {rest} more, for {len(ranked) - REJECTED_SHOWN} other reason(s)")
    lines.append("          kept here and never sent again; they hold back no other event (prtrace show REF --local lists them)")
    return lines


def _push_lines(home: Home, conf: Settings) -> list[str]:
    """Whether the daemon pushes on its own (and what turned that off), when a push last sent
    something, and whether the daemon finds the server unreachable."""
    from prtrace_cli.render import plain
    from prtrace_daemon.process import running
    from prtrace_daemon.push import read_push_state

    state = read_push_state(home)
    daemon = running(home)
    seen = state.get("auto_push") if isinstance(state.get("auto_push"), dict) else None
    # The daemon's own view when it is the one running (its environment may differ from ours).
    live = seen if seen is not None and daemon is not None and seen.get("pid") == daemon.pid else None
    on = bool(live["on"]) if live is not None else conf.auto_push
    set_by = str(live.get("set_by")) if live is not None else conf.auto_push_set_by
    server = (live.get("server") if live is not None else None) or conf.server
    how_off = "auto_push = false in config.toml, or PRTRACE_AUTO_PUSH=0"
    if not server:
        line = "auto-push: off (no server set)"
    elif not on:
        line = f"auto-push: [yellow]off[/] ({plain(set_by)})"
    elif daemon is None:
        line = "auto-push: on, but the daemon is not running (`prtrace start` runs it; `prtrace push` sends now)"
    else:
        every = live.get("interval_s") if live is not None else None
        pace = f"every {_duration(float(every))} while events wait" if isinstance(every, int | float) else "every few minutes while events wait"
        line = f"auto-push: on: the daemon pushes after each commit and git push, and {pace} (off: {how_off})"
    lines = [line]
    last = state.get("last_push")
    if isinstance(last, dict) and last.get("at"):
        lines.append(
            f"          last push {plain(last.get('at'))} by {plain(last.get('by', '?'))}: "
            f"{plain(last.get('accepted', 0))} new, {plain(last.get('duplicate', 0))} already there"
            + (f", {plain(last.get('rejected'))} rejected" if last.get("rejected") else "")
        )
    if live is not None and live.get("state") in ("offline", "refused", "failed"):
        what = "server unreachable" if live["state"] == "offline" else f"auto-push {plain(live['state'])}"
        lines.append(
            f"          [yellow]{what} since {plain(live.get('since') or '?')}[/]: {plain(live.get('error') or '')[:200]}"
        )
        if live.get("next_try_at"):
            lines.append(f"          the daemon tries again at {plain(live['next_try_at'])}; events stay buffered")
    return lines


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


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
