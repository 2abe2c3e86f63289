"""The `prtrace` command: thin Typer commands over prtrace_daemon."""
