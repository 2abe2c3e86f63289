"""`prtrace agent install|uninstall|status`: the coding agents' hooks (prtrace_daemon/agent_install.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from prtrace_core.guard import guarded_group

if TYPE_CHECKING:
    from rich.console import Console

    from prtrace_daemon.paths import Home

__all__ = ["app"]

app = typer.Typer(
    name="agent",
    help="Record what coding agents (Claude Code, Codex, Gemini CLI, Cursor) do, through their hooks.",
    no_args_is_help=True,
    cls=guarded_group(TyperGroup),  # Ctrl-C: one line, exit 130
)

_AGENT_HELP = "The agent: claude-code, codex, gemini or cursor."
_SCOPE_HELP = (
    "--project (the default): the agent's settings in this git repository; "
    "--user: the agent's settings in your home folder, for every project."
)


def _out() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _plain(value: object) -> str:
    from prtrace_cli.render import plain

    return plain(value)


def _base(user: bool) -> Path:
    """Where the agent's folder is: the repository's root, or the user's home."""
    if user:
        return Path.home()
    from prtrace_cli.state import current_repo

    return current_repo().root


def _recorded(home: Home, root: Path) -> bool:
    try:
        listed = home.repos_list.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return str(root) in listed


@app.command()
def install(
    agent: Annotated[str, typer.Argument(help=_AGENT_HELP, show_default=False)],
    user: Annotated[bool, typer.Option("--user/--project", help=_SCOPE_HELP)] = False,
) -> None:
    """Add prtrace's hook to the agent's settings: each session, prompt, edit, shell command and
    stop of the agent is then recorded, with the agent as its actor, in repositories prtrace
    records. Your own hooks are kept and still run; a second install changes nothing."""
    from prtrace_cli.state import open_home
    from prtrace_daemon.agent_install import config_path, install, spec

    found = spec(agent)
    base = _base(user)
    home = open_home()
    path = config_path(found.name, base)
    report = install(found.name, path, home.root)
    console = _out()
    if report.changed:
        made = " (a new file)" if report.created else ""
        console.print(f"[green]installed[/] prtrace's {found.name} hooks in {_plain(path)}{made}")
    else:
        console.print(f"prtrace's {found.name} hooks were already in {_plain(path)}")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {_plain(note)}")
    if not user and not _recorded(home, base):
        console.print(
            "[yellow]note:[/] prtrace does not record this repository yet: run `prtrace start`"
        )
    console.print(
        f"`prtrace agent uninstall {found.name}{' --user' if user else ''}` takes them out again"
    )


@app.command()
def uninstall(
    agent: Annotated[str, typer.Argument(help=_AGENT_HELP, show_default=False)],
    user: Annotated[bool, typer.Option("--user/--project", help=_SCOPE_HELP)] = False,
) -> None:
    """Take prtrace's hooks out of the agent's settings: the file goes back byte for byte to
    what it was before install (or away, if install created it); if you changed it since, only
    prtrace's entries are taken out and your changes stay."""
    from prtrace_cli.state import open_home
    from prtrace_daemon.agent_install import config_path, spec, uninstall

    found = spec(agent)
    path = config_path(found.name, _base(user))
    report = uninstall(found.name, path, open_home().root)
    console = _out()
    if not report.found:
        console.print(f"no prtrace hooks in {_plain(path)}: nothing to do")
    elif report.restored and not path.exists():
        console.print(f"removed {_plain(path)}: prtrace's install had created it")
    elif report.restored:
        console.print(f"{_plain(path)} is back as it was before `prtrace agent install`")
    else:
        console.print(
            f"took prtrace's hooks out of {_plain(path)}; it changed since install, "
            "so everything else in it is kept as it is now"
        )


@app.command()
def status() -> None:
    """Show, for each agent, whether prtrace's hooks are in its settings for this repository
    and in your home folder."""
    from prtrace_cli.state import current_repo, open_home
    from prtrace_daemon.agent_install import AGENTS, config_path, installed_state
    from prtrace_daemon.client_errors import NotAGitRepo

    home = open_home()
    bases: list[tuple[str, Path]] = []
    with contextlib.suppress(NotAGitRepo):  # outside a repository: the user's settings only
        bases.append(("project", current_repo().root))
    bases.append(("user", Path.home()))
    shown = {
        "installed": ("installed", "green"),
        "stale": ("out of date", "yellow"),  # another state folder, or an older command
        "absent": ("not installed", "default"),
        "unreadable": ("unreadable", "red"),
    }
    console = _out()
    for agent in AGENTS:
        for scope, base in bases:
            path = config_path(agent, base)
            word, style = shown[installed_state(agent, path, home.root)]
            console.print(f"{agent:12} {scope:8} [{style}]{word:14}[/] {_plain(path)}")
    console.print("`prtrace agent install NAME [--user]` installs, or refreshes one out of date")
