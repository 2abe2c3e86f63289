"""`prtrace shell-init`: print the hook a shell's rc file evaluates.

It runs at every new shell, so `prtrace_cli.main` dispatches it to `prtrace_cli.hot.shell_hook`
before Typer loads; the Typer command below gives it its place in `prtrace --help`.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["shell_init"]


def shell_init(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish", metavar="SHELL")],
    wrap: Annotated[
        list[str] | None,
        typer.Option("--wrap", help='Run this command through `prtrace run` inside recorded repos (repeatable): "pytest", "npm test".'),
    ] = None,
) -> None:
    """Print the shell hook that records the commands you type inside recorded repos.

    Add it to the end of your rc file, after other prompt tools (starship, direnv, bash-preexec):

      bash (~/.bashrc):  eval "$(prtrace shell-init bash)"
      zsh (~/.zshrc):    eval "$(prtrace shell-init zsh)"
      fish (config.fish): prtrace shell-init fish | source

    Each command you type inside a repo where `prtrace start` ran is appended as one line to prtrace's spool (exit code, duration, folder), with no process started per command. Commands typed with a leading space, and those matching `shell_ignore` globs in config.toml, are not recorded.
    """
    from prtrace_cli.hot import shell_hook

    typer.echo(shell_hook(shell, wrap or []), nl=False)
