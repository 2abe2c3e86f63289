"""The capture side: local buffer, edit engine, spool, git hooks, command runner and push client."""
