"""`prtrace push`: upload what the buffer holds."""

from __future__ import annotations

from typing import Annotated

import typer

from prtrace_cli.state import open_buffer, open_home, recorder, settings

__all__ = ["login", "push"]

ServerOption = Annotated[
    str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")
]


def _attempts() -> int:
    import os

    from prtrace_daemon.errors import ConfigError

    raw = os.environ.get("PRTRACE_PUSH_ATTEMPTS", "6")
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"PRTRACE_PUSH_ATTEMPTS must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def push(server: ServerOption = None) -> None:
    """Upload buffered events to the server; safe to run again at any time (the server dedups)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from prtrace_daemon.errors import ConfigError
    from prtrace_daemon.push import ServerClient
    from prtrace_daemon.push import push as push_all

    home = open_home()
    conf = settings(home, server)
    if not conf.server:
        raise ConfigError(
            "no server to push to", hint="pass --server URL, set PRTRACE_SERVER, or run `prtrace login`"
        )
    console = Console(stderr=True, highlight=False)
    with open_buffer(home) as buffer:
        recorder(home, buffer).drain()  # spooled commits go out with this push
        total = buffer.counts()["pending"]
        with (
            ServerClient(conf.server, conf.token, attempts=_attempts()) as client,
            Progress(
                TextColumn("pushing"), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                disable=not console.is_terminal,
            ) as progress,
        ):
            task = progress.add_task("push", total=total)
            report = push_all(home, buffer, client, on_batch=lambda _r, n: progress.advance(task, n))
        left = buffer.counts()
    if report.busy:
        console.print("another push is running; it will send these events")
        return
    out = Console(highlight=False)
    out.print(
        f"pushed to {conf.server}: {report.accepted} new, {report.duplicate} already there"
        + (f", [red]{report.rejected} rejected[/]" if report.rejected else "")
        + f" ({report.batches} batch{'es' * (report.batches != 1)}, {left['pending']} left)"
    )
    if report.rejected:
        out.print("[yellow]rejected events are kept locally with the reason: prtrace show REF --local[/]")
    if report.failed:
        from prtrace_daemon.errors import ServerError

        for trace_id, reason in report.failed:
            Console(stderr=True, highlight=False).print(f"trace {trace_id}: {reason}", style="red", markup=False)
        raise ServerError(
            f"{len(report.failed)} trace(s) were refused by the server; the others were pushed",
            hint="their events stay buffered; fix the cause above and push again",
        )


def login(
    server: Annotated[str, typer.Option("--server", help="The server's URL, e.g. https://prtrace.example.com.")],
    token: Annotated[
        str | None,
        typer.Option("--token", help="Your token (from `prtrace-server token create`); read from stdin if omitted."),
    ] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Try the token against the server first.")] = True,
) -> None:
    """Store the server URL and your token in config.toml (readable by you alone)."""
    import sys

    from rich.console import Console

    from prtrace_daemon.config import save_settings
    from prtrace_daemon.errors import ConfigError
    from prtrace_daemon.push import ServerClient

    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"not an http(s) URL: {server}", hint="prtrace login --server https://host:8000 --token …")
    if token is None:
        token = sys.stdin.readline().strip()
    if not token:
        raise ConfigError("no token given", hint="pass --token, or pipe it in: prtrace login --server URL < token.txt")
    if check:
        with ServerClient(server, token, attempts=2) as client:
            client.get_json("/v1/traces", limit=1)
    home = open_home()
    save_settings(home.config, server=server.rstrip("/"), token=token)
    Console(highlight=False).print(f"logged in to {server}; settings saved in {home.config}")
