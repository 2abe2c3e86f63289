"""`prtrace push` and `prtrace login`: what leaves the machine, and where it goes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from prtrace_cli.state import open_buffer, open_home, recorder, settings

if TYPE_CHECKING:
    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.config import Settings
    from prtrace_daemon.paths import Home
    from prtrace_daemon.push import PushReport

__all__ = ["is_loopback", "login", "push"]

ServerOption = Annotated[
    str | None, typer.Option("--server", help="Server URL (default: PRTRACE_SERVER, then config.toml).")
]


def push(
    server: ServerOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what a push would send (per trace: the envelope and the events), send nothing, change nothing."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: print the exact JSON bodies that would be POSTed, on stdout.")
    ] = False,
) -> None:
    """Upload buffered events to the server; safe to run again at any time (the server dedups).

    On a terminal a progress bar counts events and bytes sent. A server that cannot be reached or answers 429/502/503/504 is tried again with growing waits (as long as its Retry-After asks, at least), each wait said on stderr. If another push is running (yours, or the daemon's), this one waits for it, says so, and then sends what is left. Events the server rejects are set aside with its reason (`prtrace status` lists them) and never hold back the rest.

    --dry-run shows exactly what would leave the machine, trace by trace, without sending it or marking anything as pushed; add --json for the request bodies themselves.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from prtrace_cli.render import plain
    from prtrace_core.errors import ConfigError
    from prtrace_core.text import printable
    from prtrace_daemon.config import push_tuning
    from prtrace_daemon.push import ServerClient
    from prtrace_daemon.push import push as push_all

    if as_json and not dry_run:
        raise ConfigError("--json goes with --dry-run", hint="prtrace push --dry-run --json")
    home = open_home()
    conf = settings(home, server)
    if dry_run:
        with open_buffer(home) as buffer:
            _dry_run(home, buffer, conf, as_json=as_json)
        return
    if not conf.server:
        raise ConfigError(
            "no server to push to", hint="pass --server URL, set PRTRACE_SERVER, or run `prtrace login`"
        )
    tuning = push_tuning()
    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def say(text: str) -> None:  # retries and waits: the server's words, one plain line
        console.print(printable(text, one_line=True), style="yellow", markup=False)

    def retrying(why: str, wait_s: float, attempt: int, attempts: int) -> None:
        say(f"{why}, retrying in {_seconds(wait_s)} (try {attempt + 1} of {attempts})")

    with open_buffer(home) as buffer:
        recorder(home, buffer).drain()  # spooled commits go out with this push
        total = buffer.counts()["pending"]
        with (
            ServerClient(conf.server, conf.token, attempts=tuning.attempts, retry_s=tuning.retry_s, on_retry=retrying) as client,
            Progress(
                TextColumn("pushing"), BarColumn(), MofNCompleteColumn(), TextColumn("events, {task.fields[sent]} sent"),
                console=console, transient=True, disable=not console.is_terminal,
            ) as progress,
        ):
            task = progress.add_task("push", total=total, sent=_size(0))

            def sent(report: PushReport, events: int) -> None:
                progress.update(task, advance=events, sent=_size(report.bytes_sent))

            report = push_all(
                home, buffer, client, on_batch=sent, wait=True, by="prtrace push",
                on_wait=lambda holder: say(f"another push is running ({holder}); waiting for it to finish"),
                max_events=tuning.batch_events, max_bytes=tuning.batch_bytes,
            )
        left = buffer.counts()
    if report.busy:
        console.print("another push is running; it will send these events")
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(
        f"pushed to {plain(conf.server)}: {report.accepted} new, {report.duplicate} already there"
        + (f", [red]{report.rejected} rejected[/]" if report.rejected else "")
        + f" ({report.batches} batch{'es' * (report.batches != 1)}, {_size(report.bytes_sent)} sent, {left['pending']} left)"
    )
    if report.rejected:
        for reason, count in report.rejected_reasons.most_common(3):
            out.print(f"  {count} × {plain(reason)[:200]}")
        out.print("[yellow]rejected events are set aside with the reason and not sent again; `prtrace status` lists them[/]")
    if report.failed:
        from prtrace_daemon.client_errors import ServerRefused

        for trace_id, reason in report.failed:
            line = printable(f"trace {trace_id}: {reason}", one_line=True)  # the server's words
            Console(stderr=True, highlight=False).print(line, style="red", markup=False)
        raise ServerRefused(
            f"{len(report.failed)} trace(s) were refused by the server; the others were pushed",
            hint="their events stay buffered; fix the cause above and push again",
        )


def _seconds(value: float) -> str:
    """A wait as people say it: `2 s`, `0.4 s`, `12 s`."""
    return f"{value:.0f} s" if value >= 9.5 or abs(value - round(value)) < 0.05 else f"{value:.1f} s"


def _dry_run(home: Home, buffer: Buffer, conf: Settings, *, as_json: bool) -> None:
    """What `push` would POST, read from the buffer as a push reads it; nothing is sent and
    nothing is marked. The spool is not drained (that would record into the buffer): lines
    waiting there are counted, since a real push records them first and sends them too."""
    import json
    from collections import Counter

    from prtrace_daemon.config import push_tuning
    from prtrace_daemon.push import outgoing, unrecorded_spool

    tuning = push_tuning()  # the batch limits a push would use
    batches = [
        batch
        for trace in buffer.pending_traces()
        for batch in outgoing(buffer, trace, max_events=tuning.batch_events, max_bytes=tuning.batch_bytes)
    ]
    spooled = unrecorded_spool(home, buffer)
    rejected = buffer.counts()["rejected"]
    url = f"{conf.server}/v1/batches" if conf.server else None
    if as_json:
        import sys

        from prtrace_core.text import json_printable

        doc = {
            "url": url,
            "batches": [batch.body for batch in batches],
            "spool_files_not_recorded": spooled,
        }
        sys.stdout.write(json_printable(json.dumps(doc, ensure_ascii=False, indent=2)) + "\n")
        return
    from rich.console import Console

    from prtrace_cli.render import plain

    out = Console(highlight=False, soft_wrap=True)
    where = plain(url) if url else "no server set yet"
    how = "gzip, with your token" if conf.token else "gzip, no token"
    out.print(f"[bold]dry run[/]: nothing is sent, nothing is marked as pushed; a push would POST to {where} ({how})")
    by_trace: dict[str, list[Any]] = {}
    for batch in batches:
        by_trace.setdefault(batch.trace.trace_id, []).append(batch)
    for trace_batches in by_trace.values():
        body = trace_batches[0].body
        repo, dev, pr = body.get("repo") or {}, body.get("developer") or {}, body.get("pr") or {}
        events = [event for batch in trace_batches for event in batch.body["events"]]
        out.print(f"\ntrace [bold]{plain(body['trace_id'])}[/]")
        out.print(f"  repo:      {plain(repo.get('name'))}  branch {plain(repo.get('branch'))}"
                  f"  languages {plain(', '.join(map(str, repo.get('language') or [])) or 'none')}")
        title = f" “{plain(pr['title'])}”" if pr.get("title") else ""
        out.print(f"  pr:        {plain(pr.get('pr_id')) + title if pr else 'none'}")
        out.print(f"  developer: {plain(dev.get('user_id'))} ({plain(dev.get('ide_version'))}, {plain(dev.get('os'))})")
        if not events:
            out.print("  events:    none; the envelope alone (a PR link or a language changed)")
            continue
        size = sum(len(json.dumps(batch.body, ensure_ascii=False).encode("utf-8")) for batch in trace_batches)
        kinds = Counter(str(event.get("type")) for event in events)
        out.print(
            f"  events:    {len(events)}, seq {events[0].get('seq')}–{events[-1].get('seq')}: "
            + ", ".join(f"{n} {plain(kind)}" for kind, n in kinds.items())
        )
        out.print(f"  size:      {len(trace_batches)} batch{'es' * (len(trace_batches) != 1)}, {_size(size)} of JSON before gzip")
    total = sum(len(batch.event_ids) for batch in batches)
    out.print(f"\n{len(by_trace)} trace(s), {total} event(s), {len(batches)} batch{'es' * (len(batches) != 1)}"
              + ("; nothing to push" if not batches else "")
              + "; `prtrace push --dry-run --json` prints the bodies themselves")
    if spooled:
        out.print(f"[yellow]{spooled} spool file(s) hold activity not recorded yet (commits, typed commands): "
                  "a push records it first and sends it too[/]")
    if rejected:
        out.print(f"{rejected} event(s) the server rejected stay aside and are not sent again")


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def is_loopback(host: str | None) -> bool:
    """Whether a URL's host is this machine: localhost, 127.0.0.0/8 or ::1 (nothing on the wire)."""
    import ipaddress

    if not host:
        return False
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_token() -> str:
    """The token from stdin when it is a pipe or a file, else asked for without echo: never on
    the command line, where shell history and the process list would keep it."""
    import sys

    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        return str(typer.prompt("token", hide_input=True, err=True)).strip()
    return sys.stdin.readline().strip()


def login(
    server: Annotated[str, typer.Option("--server", help="The server's URL, e.g. https://prtrace.example.com.")],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="The token itself. Avoid it: a token on the command line lands in your shell history and the "
            "process list. Pipe it in or type it at the prompt instead.",
        ),
    ] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Try the token against the server first.")] = True,
) -> None:
    """Store the server URL and your token (from `prtrace-server token create`) in config.toml,
    readable by you alone.

    The token is read from stdin when that is not a terminal (printf '%s\\n' "$TOKEN" | prtrace login --server URL, or prtrace login --server URL < token.txt); in a terminal it is asked for, without echo. A plain http:// URL to another machine gets a warning: the token would cross the network unencrypted.
    """
    from urllib.parse import urlsplit

    from rich.console import Console

    from prtrace_cli.render import line, plain
    from prtrace_core.errors import ConfigError
    from prtrace_daemon.config import save_settings
    from prtrace_daemon.push import ServerClient

    try:
        parts = urlsplit(server)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"not an http(s) URL: {server}", hint="prtrace login --server https://host:8000")
    if parts.scheme == "http" and not is_loopback(host):
        # Said before the token is asked for, so there is still time to stop.
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"warning: {line(server)} is plain http to another machine: your token and your traces "
            "would cross the network unencrypted; use https unless the network is yours alone",
            style="yellow", markup=False,
        )
    if token is None:
        token = _read_token()
    if not token:
        raise ConfigError("no token given", hint="pipe it in: printf '%s\\n' \"$TOKEN\" | prtrace login --server URL")
    if check:
        with ServerClient(server, token, attempts=2) as client:
            client.get_json("/v1/traces", limit=1)
    home = open_home()
    save_settings(home.config, server=server.rstrip("/"), token=token)
    Console(highlight=False).print(f"logged in to {plain(server)}; settings saved in {plain(home.config)}")
