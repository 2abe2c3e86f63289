"""`prtrace replay REF`: the work tree as it was right after any event, or the trace stepped
through in the terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from prtrace_cli.traces import load_one, source_for
from prtrace_core.actors import ActorKind

__all__ = ["replay"]


def replay(
    ref: Annotated[str, typer.Argument(help="PR-123, 123, owner/repo#123, a trace id, a branch, or a trace .json/.jsonl file.")],
    at: Annotated[int | None, typer.Option("--at", help="Rebuild the tree right after this seq (default: the last).")] = None,
    to: Annotated[Path | None, typer.Option("--to", help="Write the tree into this new (or empty) folder.")] = None,
    repo: Annotated[Path | None, typer.Option("--repo", help="The repository holding the base commit (default: the current one, when it is the trace's).")] = None,
    partial: Annotated[bool, typer.Option("--partial", help="Write what can be replayed, leaving out files whose content is lost.")] = False,
    local: Annotated[bool, typer.Option("--local", help="Read the local buffer, not the server.")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")] = None,
    actor: Annotated[ActorKind | None, typer.Option("--actor", help="Still rebuild the whole tree, but name only the files the agents (or the developer) changed; stepping shows only their events.")] = None,
) -> None:
    """Rebuild the work tree right after event SEQ from the trace's base commit and its diffs
    (--to DIR), or step through the timeline one event per key press, showing each diff.

    With --actor the tree is still rebuilt from every event (a file's versions build on each
    other, whoever wrote them); the report names the files that actor's edits changed."""
    from prtrace_cli.verify import repo_for
    from prtrace_daemon.blobs import BlobCache
    from prtrace_daemon.gitobjects import GitSources
    from prtrace_daemon.paths import home
    from prtrace_daemon.worktree import ReplayTargetError, write_tree
    from prtrace_daemon.worktree import replay as replay_trace

    if to is not None:
        to = to.expanduser().absolute()
        if to.exists() and (not to.is_dir() or any(to.iterdir())):
            raise ReplayTargetError(f"{to} exists and is not an empty folder", hint="name a new folder")
    trace = load_one(ref, source_for(local=local, server=server))
    if to is None:
        _step(trace, at, actor)
        return
    git, why = repo_for(trace, repo)
    start = next((e for e in trace.get("events") or [] if e.get("seq") == 1), None)
    if git is None and start is not None and (start.get("payload") or {}).get("head_sha"):
        from prtrace_core.replay import BaseCommitMissing

        raise BaseCommitMissing(f"replay starts from the trace's base commit, in its repository: {why}")
    with GitSources(git, BlobCache(home().blobs)) as sources:
        replayer, seq = replay_trace(trace, sources, at)
        written = write_tree(replayer, to, partial=partial)
    from rich.console import Console

    from prtrace_cli.render import plain

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"replayed {plain(trace.get('trace_id'))} up to seq {seq}: {written.files} file(s) in {plain(to)}")
    if actor is not None:
        files = _actor_files(trace, actor, seq)
        console.print(f"changed by {actor} edits: {', '.join(plain(p) for p in files) if files else 'no file'}")
    if written.skipped:
        console.print(f"left out (not replayable): {', '.join(plain(p) for p in sorted(written.skipped))}", style="yellow")
        raise typer.Exit(1)


def _actor_files(trace: dict[str, Any], actor: str, up_to: int) -> list[str]:
    """The files `actor`'s edits up to seq `up_to` changed (a rename: both names)."""
    from prtrace_core.actors import filter_events
    from prtrace_core.replay import effective_events

    files: set[str] = set()
    for event in filter_events(effective_events(trace.get("events") or []), actor):
        payload = event.get("payload") or {}
        if event.get("type") == "edit" and int(event["seq"]) <= up_to:
            files.update(p for p in (payload.get("file"), payload.get("old_file")) if isinstance(p, str))
    return sorted(files)


def _step(trace: dict[str, Any], at: int | None, actor: str | None = None) -> None:
    """The timeline, one event per key press (q quits); all at once when stdin is no terminal.
    With `actor`, only that actor's events."""
    import sys

    from rich.console import Console, Group
    from rich.syntax import Syntax
    from rich.text import Text

    from prtrace_cli.render import line, summary
    from prtrace_core.actors import filter_events
    from prtrace_core.replay import effective_events
    from prtrace_core.text import printable

    console = Console(highlight=False)
    events = [e for e in filter_events(effective_events(trace.get("events") or []), actor) if at is None or int(e["seq"]) >= at]
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        console.print(Text("space or enter: next event · q: quit", style="dim"))
    with _keys(interactive) as key:
        for number, event in enumerate(events, 1):
            text, style = summary(dict(event))
            parts: list[Any] = [Text.assemble((f"seq {line(event['seq'])} ", "bold"), (f"{line(event.get('ts'))} ", "dim"),
                                              (f"{line(event.get('type'))} ", "bold"), (text, style))]
            payload = event.get("payload") or {}
            for entry in [payload, *(payload.get("dirty") or [])] if event.get("type") in ("edit", "start") else []:
                if isinstance(entry, dict) and entry.get("diff"):
                    # diffs and output are whatever the files and commands held: no control characters
                    parts.append(Syntax(printable(str(entry["diff"])).rstrip("\n"), "diff", theme="ansi_dark", word_wrap=True))
            if isinstance(payload.get("stdout_sample"), str):
                parts.append(Text(printable(payload["stdout_sample"]).rstrip("\n"), "dim"))
            console.print(Group(*parts))
            if interactive and number < len(events) and key() in (b"", b"q", b"Q", b"\x1b"):
                return


@contextlib.contextmanager
def _keys(interactive: bool) -> Iterator[Callable[[], bytes]]:
    """Key presses one at a time. The terminal is in cbreak mode for the whole walk (no echo,
    no Enter needed; Ctrl-C still interrupts), so a key pressed early is kept, not flushed."""
    import os
    import sys
    import termios
    import tty

    if not interactive:
        yield lambda: b""
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)
    try:
        yield lambda: os.read(fd, 1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
