"""Commands for the capture daemon: run it in the foreground, stop it."""

from __future__ import annotations

from prtrace_cli.state import open_home

__all__ = ["daemon", "stop"]


def daemon() -> None:
    """Run the capture daemon in the foreground (`prtrace start` runs it in the background).

    It watches every registered repository and records edits as they are saved.
    """
    import logging
    import sys

    from prtrace_daemon.daemon import Daemon
    from prtrace_daemon.process import DaemonError, daemon_lock

    home = open_home()
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with daemon_lock(home) as held:
        if not held:
            raise DaemonError("a prtrace daemon is already running for this user", hint="prtrace status")
        Daemon(home).run()


def stop() -> None:
    """Stop the capture daemon (buffered events stay; `prtrace start` starts it again)."""
    from rich.console import Console

    from prtrace_daemon.process import stop as stop_daemon

    info = stop_daemon(open_home())
    Console(highlight=False).print("daemon stopped" if info else "no daemon was running")
