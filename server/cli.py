"""The `prtrace-server` command: serve the API, manage tokens.

It runs under the same guarded entry as `prtrace` (`prtrace_core.guard`): an expected error is
one red line and a hint, Ctrl-C exits 130, anything else exits 3 naming a crash log in the data
folder (redacted: a traceback may quote a database URL with its password).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from prtrace_core.errors import Interrupted
from prtrace_core.guard import CrashLog, guarded_group, run_guarded

from .index import IndexStore, Role
from .private_files import private_data_dir
from .settings import check_bind_host, load_settings
from .stores import open_index

__all__ = ["CRASH_LOG", "app", "main"]

app = typer.Typer(
    name="prtrace-server",
    help="The prtrace server: ingests trace batches and serves whole traces. "
    "Configured by PRTRACE_DATA_DIR, PRTRACE_DATABASE_URL, PRTRACE_STORAGE_URL, PRTRACE_AUTH, "
    "PRTRACE_GITHUB_WEBHOOK_SECRET (GitHub's webhooks) and PRTRACE_REDIS_URL (the compaction queue); "
    "see docs/server.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=guarded_group(TyperGroup),  # Ctrl-C: one line, exit 130
)
token_app = typer.Typer(
    help="Create, list and revoke API tokens (stored in the index as hashes).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"prtrace-server {version('prtrace')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """The prtrace server."""


@contextmanager
def _index() -> Iterator[IndexStore]:
    settings = load_settings()
    private_data_dir(settings)
    index = open_index(settings.index_url)
    try:
        yield index
    finally:
        index.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; PRTRACE_AUTH=off needs a loopback one.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Do not run the compaction worker in this process (run `prtrace-server worker` "
            "beside the replicas instead).",
        ),
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            "--processes", min=1, max=64,
            help="Server processes sharing the port: the API is stateless, so one per core uses them all.",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) until interrupted."""
    import os

    import uvicorn

    from .app import create_app

    settings = load_settings()
    check_bind_host(settings, host)
    # Opened here even with several processes: a bad setting or an unreachable store is
    # reported once, now, and the migrations run before any process serves.
    application = create_app(settings, worker=not no_worker)
    typer.echo(f"prtrace-server: index {_safe(settings.index_url)}, objects {_safe(settings.blob_url)}, "
               f"auth {settings.auth}, {processes} process(es)", err=True)
    if processes == 1:
        with _noting_ctrl_c() as ctrl_c:
            uvicorn.run(application, host=host, port=port, log_level="info")
        if ctrl_c:
            raise Interrupted("interrupted")
        return
    services = application.state.services  # each process opens its own stores
    services.index.close()
    services.blobs.close()
    os.environ[_WORKER_ENV] = "off" if no_worker else "on"
    uvicorn.run(
        "prtrace_server.cli:app_from_environment", factory=True, host=host, port=port,
        workers=processes, log_level="info",
    )


_WORKER_ENV = "PRTRACE_SERVE_COMPACTION"


@contextmanager
def _noting_ctrl_c() -> Iterator[list[int]]:
    """Yields a list that holds SIGINT once Ctrl-C was pressed inside the block.

    uvicorn shuts down gracefully on Ctrl-C, raises the signal again for the handler it found,
    and then swallows the KeyboardInterrupt: this handler notes it, so `serve` can still exit
    130 like every command. (With --processes N uvicorn's supervisor keeps the signal to
    itself, and `serve` exits 0.)
    """
    import signal

    seen: list[int] = []

    def note(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def app_from_environment() -> object:
    """The app of one of `serve --processes N`'s processes, from the environment `serve` set."""
    from .app import create_app

    return create_app(load_settings(), worker=os.environ.get(_WORKER_ENV) == "on")


@app.command()
def worker(
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between passes over the traces.")] = 2.0,
    once: Annotated[
        bool, typer.Option("--once", help="Run one compaction pass and one orphan sweep, and exit.")
    ] = False,
) -> None:
    """Keep every trace's compacted raw/<trace_id>.ndjson up to date (beside `serve --no-worker`).

    With PRTRACE_REDIS_URL set, it compacts a trace as soon as any replica takes a batch for it.
    Each pass also finds the traces whose compacted object is behind the index, so any number
    of workers may run, and none depends on a message arriving. Now and then it deletes batch
    objects no index row points at (PRTRACE_ORPHAN_GRACE_S, PRTRACE_ORPHAN_INTERVAL_S).
    """
    import signal

    from .compaction import Compactor, Worker
    from .orphans import OrphanSweeper
    from .queue import RedisQueue, open_queue
    from .stores import open_blobs

    settings = load_settings()
    private_data_dir(settings)
    index = open_index(settings.index_url)
    try:
        blobs = open_blobs(settings.blob_url)
    except BaseException:
        index.close()
        raise
    compactor = Compactor(index, blobs, github=settings.github_webhook_secret is not None)
    orphans = OrphanSweeper(index, blobs, grace_s=settings.orphan_grace_s, every_s=settings.orphan_interval_s)
    try:
        if once:
            done = compactor.run_pass(limit=1_000_000)
            swept = orphans.sweep()
            typer.echo(f"compacted {done} trace(s)", err=True)
            typer.echo(f"deleted {swept} orphaned batch object(s)", err=True)
            return
        queue = open_queue(settings, in_process_worker=False)
        loop = Worker(compactor, queue=queue, orphans=orphans, interval_s=interval)
        signal.signal(signal.SIGTERM, lambda *_: loop.stop(timeout_s=0))
        heard = f"Redis {queue.where} stream {queue.stream}" if isinstance(queue, RedisQueue) else "none (passes only)"
        typer.echo(f"prtrace-server worker: index {_safe(settings.index_url)}, objects {_safe(settings.blob_url)}, "
                   f"queue {heard}", err=True)
        try:
            loop.run()
        except KeyboardInterrupt:
            # The loop stops cleanly (a pass in flight is finished or left for the next run);
            # then the worker exits 130 like every command.
            raise Interrupted("interrupted") from None
        finally:
            if queue is not None:
                queue.close()
    finally:
        index.close()
        blobs.close()


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Who the token acts as; their traces are theirs.")],
    role: Annotated[
        Role, typer.Option(help="writer: write and read own traces; reader: read all; admin: everything.")
    ] = "writer",
) -> None:
    """Create a token and print it once, alone on the last line of stdout."""
    from .tokens import issue_token

    with _index() as index:
        record, token = issue_token(index, user=user, role=role)
    typer.echo(f"Created token {record.token_id} for {record.user} ({record.role}). "
               "It is shown only now; keep it somewhere safe.", err=True)
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List tokens: id, user, role, when created, when revoked. Tokens themselves are never shown."""
    with _index() as index:
        tokens = index.list_tokens()
    if not tokens:
        typer.echo("no tokens", err=True)
        return
    typer.echo(f"{'ID':<12}  {'USER':<20}  {'ROLE':<6}  {'CREATED':<24}  REVOKED")
    for token in tokens:
        typer.echo(
            f"{token.token_id:<12}  {token.user:<20}  {token.role:<6}  {token.created_at:<24}  "
            f"{token.revoked_at or '-'}"
        )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str | None, typer.Argument(help="The token's id, as `token list` shows it.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Revoke every token of this user.")] = None,
) -> None:
    """Revoke one token by id, or all of a user's tokens with --user."""
    from .errors import BadArgument
    from .tokens import revoke

    with _index() as index:
        if (token_id is None) == (user is None):
            raise BadArgument("give a TOKEN_ID or --user NAME, not both")
        count = revoke(index, token_id=token_id, user=user)
    typer.echo(f"Revoked {count} token{'s' if count != 1 else ''}.", err=True)


def _safe(url: str) -> str:
    # A database URL may carry a password (before the host, or as ?password=): show the
    # scheme, host and path only.
    scheme, sep, rest = url.partition("://")
    rest = rest.rpartition("@")[2].partition("?")[0]
    return f"{scheme}{sep}{rest}"


def _data_folder() -> Path:
    """The data folder for the crash log; the state folder when the settings do not read."""
    try:
        return load_settings().data_dir
    except Exception:
        from platformdirs import user_state_path

        return user_state_path("prtrace-server")


CRASH_LOG = CrashLog("prtrace-server", _data_folder, hint="the stores are unchanged; please report this with the log")


def main() -> None:
    """Console entry point, under the guarded entry both commands share."""
    sys.exit(run_guarded(app, CRASH_LOG))
