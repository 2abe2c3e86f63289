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
HOOKS = ("post-commit", "post-checkout", "post-merge", "post-rewrite", "pre-push")
ORIG_SUFFIX = ".prtrace-orig"

# Per hook: the spool line's kind, its extra fields (printf format, arguments), and whether
# git feeds the hook lines on stdin (which the chained hook must then get too).
_SPECS: dict[str, tuple[str, str, str, bool]] = {
    "post-commit": ("commit", "", "", False),
    # (previous HEAD, new HEAD, 1 for a branch checkout)
    "post-checkout": ("checkout", "\\t%s\\t%s", ' "$1" "$3"', False),
    # (1 for a squash merge); ORIG_HEAD is where HEAD was before the merge
    "post-merge": ("merge", "\\t%s\\t%s", ' "$1" "$(git rev-parse -q --verify ORIG_HEAD 2>/dev/null)"', False),
    # (amend | rebase), stdin: "<old sha> <new sha>" lines
    "post-rewrite": ("rewrite", "\\t%s\\t%s", ' "$1" "$flat"', True),
    # (remote name, url), stdin: "<local ref> <local sha> <remote ref> <remote sha>" lines
    "pre-push": ("push", "\\t%s\\t%s\\t%s", ' "$1" "$2" "$flat"', True),
}

_HEAD = """#!/bin/sh
{marker} ({name}); `prtrace uninstall` restores what was here.
# Appends one line to the prtrace spool; never fails, blocks or slows git noticeably.
PRTRACE_SPOOL={spool}
orig="$(dirname "$0")/{name}{orig_suffix}"
"""

# Builtins only: stdin is read once, kept for the chained hook, and flattened to one line.
_READ_STDIN = """input=
flat=
while IFS= read -r line || [ -n "$line" ]; do
    input="$input$line
"
    flat="$flat$line;"
done
"""

_RECORD = """if [ -d "$PRTRACE_SPOOL" ] && [ -z "$PRTRACE_DISABLE" ]; then
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
"""

_CHAIN = """if [ -x "$orig" ]; then
    exec "$orig" "$@"
fi
exit 0
"""

# The chained hook's exit code is git's answer (a pre-push hook may refuse a push on purpose).
_CHAIN_STDIN = """if [ -x "$orig" ]; then
    printf '%s' "$input" | "$orig" "$@"
    exit $?
fi
exit 0
"""


def render_hook(name: str, home: Path) -> str:
    """The hook script, with absolute paths baked in: IDEs run hooks without the user's shell env."""
    kind, extra_format, extra_args, stdin = _SPECS[name]
    parts = [
        _HEAD.format(marker=MARKER, name=name, spool=shlex.quote(str(home / "spool")), orig_suffix=ORIG_SUFFIX),
        _READ_STDIN if stdin else "",
        _RECORD.format(kind=kind, extra_format=extra_format, extra_args=extra_args),
        _CHAIN_STDIN if stdin else _CHAIN,
    ]
    return "".join(parts)


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
