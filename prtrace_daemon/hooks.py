"""Git hooks that record without slowing git: a few lines of `sh` that append one line to the
spool and exit 0. Enrichment (message, stats, files) happens when the spool is drained.

An existing hook that is not ours is moved aside and still runs after ours; ours is
recognised by a marker line, and uninstall puts the original back.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path

from prtrace_daemon.gitrepo import GitRepo

__all__ = ["HOOKS", "MARKER", "HookReport", "hooks_dir", "install_hooks", "render_hook", "uninstall_hooks"]

MARKER = "# prtrace-managed hook"
HOOKS = ("post-commit", "post-checkout")
ORIG_SUFFIX = ".prtrace-orig"

_TEMPLATE = """#!/bin/sh
{marker} ({name}); `prtrace uninstall` restores what was here.
# Appends one line to the prtrace spool and never fails or blocks git.
PRTRACE_HOME={home}
PRTRACE_SPOOL={spool}
if [ -d "$PRTRACE_SPOOL" ] && [ -z "$PRTRACE_DISABLE" ]; then
    info=$(git rev-parse HEAD --symbolic-full-name HEAD 2>/dev/null)
    sha=${{info%%
*}}
    ref=${{info#"$sha"}}
    ref=${{ref#
}}
    ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ 2>/dev/null)
    printf 'v1\\t{kind}\\t%s\\t%s\\t%s\\t%s{extra_format}\\n' "$ts" "$PWD" "$sha" "$ref"{extra_args} \\
        >> "$PRTRACE_SPOOL/hook.$$.spool" 2>/dev/null
fi
orig="$(dirname "$0")/{name}{orig_suffix}"
if [ -x "$orig" ]; then
    exec "$orig" "$@"
fi
exit 0
"""


def render_hook(name: str, home: Path) -> str:
    """The hook script, with absolute paths baked in: IDEs run hooks without the user's shell env."""
    kind = name.removeprefix("post-").removeprefix("pre-")
    # post-checkout gets (previous HEAD, new HEAD, 1 for a branch checkout) as arguments
    extra_format, extra_args = ("\\t%s\\t%s", ' "$1" "$3"') if name == "post-checkout" else ("", "")
    return _TEMPLATE.format(
        extra_format=extra_format,
        extra_args=extra_args,
        marker=MARKER,
        name=name,
        kind=kind,
        home=shlex.quote(str(home)),
        spool=shlex.quote(str(home / "spool")),
        orig_suffix=ORIG_SUFFIX,
    )


def hooks_dir(repo: GitRepo) -> Path:
    """Where git looks for this repo's hooks (honours core.hooksPath)."""
    out = repo.git("rev-parse", "--git-path", "hooks").decode().strip()
    path = Path(out)
    return path if path.is_absolute() else repo.root / path


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


@dataclass
class HookReport:
    chained: list[str] = field(default_factory=list)  # the user's hook kept, run after ours
    skipped: list[str] = field(default_factory=list)  # why a hook was not installed


def install_hooks(repo: GitRepo, home: Path) -> HookReport:
    """Install (or refresh) our hooks, never losing one of the user's."""
    report = HookReport()
    folder = hooks_dir(repo)
    if folder.resolve().is_relative_to(repo.root.resolve()) and not folder.resolve().is_relative_to(
        (repo.root / ".git").resolve()
    ):
        # core.hooksPath points into the work tree (.husky/): those files are tracked and
        # shared, and must not get this machine's paths. Commits are then found by scans.
        report.skipped.append(f"core.hooksPath is {folder}, inside the work tree; hooks not installed there")
        return report
    folder.mkdir(parents=True, exist_ok=True)
    for name in HOOKS:
        target = folder / name
        orig = folder / f"{name}{ORIG_SUFFIX}"
        if target.exists() and not _is_ours(target):
            if orig.exists():
                # Both the user's hook and an earlier one set aside: replacing either would lose it.
                report.skipped.append(f"{name}: both {target.name} and {orig.name} exist; left as they are")
                continue
            os.replace(target, orig)
            report.chained.append(name)
        tmp = folder / f".{name}.prtrace-tmp"
        tmp.write_text(render_hook(name, home), encoding="utf-8")
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, target)
    return report


def uninstall_hooks(repo: GitRepo) -> None:
    """Remove our hooks and put any original back exactly as it was."""
    folder = hooks_dir(repo)
    for name in HOOKS:
        target = folder / name
        orig = folder / f"{name}{ORIG_SUFFIX}"
        if _is_ours(target):
            target.unlink()
        if orig.exists() and not target.exists():
            os.replace(orig, target)
